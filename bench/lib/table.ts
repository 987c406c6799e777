// Plain-text tables for the terminal: numbers right-aligned, text left-aligned.

export type Cell = string | number | null | undefined

export function fmt(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–'
  if (Math.abs(v) >= 10_000) return Math.round(v).toLocaleString('en-US')
  return v.toFixed(digits)
}

export function printTable(title: string, headers: string[], rows: Cell[][], notes: string[] = []): void {
  const text = rows.map((r) => headers.map((_, i) => (r[i] === null || r[i] === undefined ? '' : String(r[i]))))
  const numeric = headers.map((_, i) => rows.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === 'number' || /^[-–\d.,]+$/.test(String(r[i]))))
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`
  console.log(`\n${title}\n`)
  console.log(line(headers))
  console.log(rule)
  for (const r of text) console.log(line(r))
  for (const n of notes) console.log(`  ${n}`)
}
