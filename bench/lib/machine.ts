import { availableParallelism, cpus, loadavg } from 'node:os'

/** The machine line every bench prints: cores, CPU model, Node, platform. */
export const machineLine = (): string =>
  `  machine : ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, ${process.platform}/${process.arch}`

/** A bench's opening lines: its title, when it ran, how loaded the machine was, and on what. */
export function printRunHeader(title: string): void {
  console.log(title)
  console.log(`  date    : ${new Date().toISOString()}`)
  console.log(
    `  load avg: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')} (1/5/15 min) at start`,
  )
  console.log(machineLine())
}
