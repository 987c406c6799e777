// What the secret scan (test/support/log-scan.setup.ts) checks, per test file: every
// log line the tests' loggers and processes wrote, and every secret the harness
// issued (passwords, JWTs, access tokens — an access token is also the cookie's value).
// Kept on globalThis so the harness, the parity targets and the setup file share one
// record whichever copy of this module they loaded.

export interface Leak {
  /** What the secret was ("access token", "password", …). */
  what: string
  /** The first log line that contained it, shortened around the secret. */
  line: string
}

interface Record {
  lines: string[]
  secrets: Map<string, string>
}

const KEY = Symbol.for('zenzefi.test.log-scan')
const store = globalThis as typeof globalThis & { [KEY]?: Record }

function record(): Record {
  store[KEY] ??= { lines: [], secrets: new Map() }
  return store[KEY]
}

/** A line some logger wrote while a test ran. */
export function recordLogLine(line: string): void {
  record().lines.push(line)
}

/** Shorter values could turn up by chance; nothing the harness issues is that short. */
const MIN_SECRET_LENGTH = 8

/** A value that must never be in any log line. */
export function recordSecret(value: string | null | undefined, what: string): void {
  if (typeof value === 'string' && value.length >= MIN_SECRET_LENGTH) record().secrets.set(value, what)
}

/** Each secret found in a line, as written or JSON-escaped (how a JSON log line would carry it). */
export function leaks(lines: readonly string[], secrets: ReadonlyMap<string, string>): Leak[] {
  const found: Leak[] = []
  for (const [secret, what] of secrets) {
    const spellings = new Set([secret, JSON.stringify(secret).slice(1, -1)])
    for (const line of lines) {
      const spelling = [...spellings].find((s) => line.includes(s))
      if (spelling === undefined) continue
      const at = line.indexOf(spelling)
      const excerpt = `${line.slice(Math.max(0, at - 80), at)}<${what}>${line.slice(at + spelling.length, at + spelling.length + 80)}`
      found.push({ what, line: excerpt })
      break
    }
  }
  return found
}

/** This file's record so far, emptied for the next file. */
export function takeRecord(): { lines: string[]; secrets: Map<string, string> } {
  const r = record()
  const taken = { lines: r.lines, secrets: r.secrets }
  store[KEY] = { lines: [], secrets: new Map() }
  return taken
}
