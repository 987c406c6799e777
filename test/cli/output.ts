import type { Output } from '../../src/cli/io'

/** The lines a command printed, by stream. */
export function capture(): Output & { stdout: string[]; stderr: string[]; all(): string } {
  const stdout: string[] = []
  const stderr: string[] = []
  return {
    stdout,
    stderr,
    out: (line) => void stdout.push(line),
    err: (line) => void stderr.push(line),
    all: () => [...stdout, ...stderr].join('\n'),
  }
}
