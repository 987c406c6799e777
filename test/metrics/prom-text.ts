// A strict reader of the Prometheus text exposition format (0.0.4): every line is a `# HELP`, a `# TYPE`
// or a sample `name{label="value",...} value`; anything else throws. Samples are keyed by name and sorted labels.

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*'
// Numbers as Go's strconv.ParseFloat (Prometheus's parser) reads them: NaN and Inf in any case (prom-client writes `Nan`).
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)|[nN][aA][nN])'
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`)
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (${VALUE})(?: (-?\\d+))?$`)
const PAIR = new RegExp(`^(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`)

export interface Exposition {
  /** `name{a="1",b="2"}` (labels sorted) → value. */
  samples: Map<string, number>
  types: Map<string, string>
  lines: number
}

export const seriesKey = (name: string, labels: Record<string, string> = {}): string => {
  const keys = Object.keys(labels).sort()
  return keys.length ? `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}` : name
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {}
  let rest = text
  while (rest.length > 0) {
    const m = PAIR.exec(rest)
    if (!m) throw new Error(`bad labels in: ${line}`)
    if (m[1]! in out) throw new Error(`repeated label in: ${line}`)
    out[m[1]!] = m[2]!
    rest = rest.slice(m[0].length)
    if (rest.startsWith(',')) rest = rest.slice(1)
    else if (rest.length > 0) throw new Error(`bad label separator in: ${line}`)
  }
  return out
}

/** The family a sample belongs to (histogram samples end in _bucket, _sum, _count). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (name.endsWith(suffix) && types.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length)
  }
  return undefined
}

export function parseExposition(text: string): Exposition {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  let count = 0
  for (const line of lines) {
    count++
    if (line === '') continue
    let m = HELP.exec(line)
    if (m) {
      if (helps.has(m[1]!)) throw new Error(`second HELP for ${m[1]}`)
      helps.add(m[1]!)
      continue
    }
    m = TYPE.exec(line)
    if (m) {
      if (types.has(m[1]!)) throw new Error(`second TYPE for ${m[1]}`)
      types.set(m[1]!, m[2]!)
      continue
    }
    if (line.startsWith('#')) throw new Error(`unknown comment line: ${line}`)
    m = SAMPLE.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const name = m[1]!
    if (!familyOf(name, types)) throw new Error(`sample before its TYPE: ${line}`)
    const key = seriesKey(name, parseLabels(m[2] ?? '', line))
    if (samples.has(key)) throw new Error(`duplicate series: ${key}`)
    const v = m[3]!
    const lower = v.toLowerCase()
    samples.set(key, lower.includes('inf') ? (v.startsWith('-') ? -Infinity : Infinity) : lower === 'nan' ? Number.NaN : Number(v))
  }
  return { samples, types, lines: count }
}

/** A series' value, 0 when absent (a counter never incremented). */
export const seriesValue = (e: Exposition, name: string, labels: Record<string, string> = {}): number => e.samples.get(seriesKey(name, labels)) ?? 0
