// Amounts are integers of minor units everywhere (1 ZNC = 100; 1 RUB = 100 kopecks) and
// cross the wire as strings with two decimals. Parsing is string arithmetic: nothing is
// ever rounded, and an amount with more than two decimals is refused, not "fixed".

export const MINOR_PER_UNIT = 100

/** 1800 → "18.00", -5 → "-0.05". */
export function formatMinor(minor: number): string {
  const sign = minor < 0 ? '-' : ''
  const abs = Math.abs(minor)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

const DECIMAL = /^(-)?(\d{1,13})(?:\.(\d{1,2}))?$/

/**
 * "18", "18.5", "18.50", 18.5 → 1850; "-3.00" → -300 when negative amounts are allowed.
 * null for anything else: more than two decimals, exponents, spaces, NaN, more than 13 integer digits.
 */
export function parseMinor(input: unknown, opts: { negative?: boolean } = {}): number | null {
  let text: string
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return null
    // A JSON number prints back as written for any value with ≤ 2 decimals (18.5 → "18.5");
    // one that can't (0.1 + 0.2) shows its extra digits and is refused below.
    text = String(input)
  } else if (typeof input === 'string') {
    text = input
  } else {
    return null
  }
  const m = DECIMAL.exec(text)
  if (!m) return null
  if (m[1] && !opts.negative) return null
  const minor = Number(m[2]) * MINOR_PER_UNIT + Number((m[3] ?? '').padEnd(2, '0'))
  if (!Number.isSafeInteger(minor)) return null
  return m[1] ? -minor : minor
}

/**
 * A ratio with up to four decimals (ZNC_TO_RUB_RATE: roubles per ZNC), kept as an integer numerator
 * over 10 000 so a charge is computed exactly or refused.
 */
export interface Rate {
  text: string
  perTenThousand: number
}

export function parseRate(text: string): Rate | null {
  const m = /^(\d{1,6})(?:\.(\d{1,4}))?$/.exec(text.trim())
  if (!m) return null
  const perTenThousand = Number(m[1]) * 10_000 + Number((m[2] ?? '').padEnd(4, '0'))
  return perTenThousand > 0 ? { text: text.trim(), perTenThousand } : null
}

/** The charge in the provider currency's minor units for an amount of ZNC minor units; null if not a whole kopeck. */
export function convert(minor: number, rate: Rate): number | null {
  const scaled = minor * rate.perTenThousand
  if (!Number.isSafeInteger(scaled) || scaled % 10_000 !== 0) return null
  return scaled / 10_000
}
