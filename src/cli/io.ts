import type { Logger } from '../logger'

/** Where a command's human-readable lines go: results to `out` (stdout), problems to `err` (stderr). */
export interface Output {
  out(line: string): void
  err(line: string): void
}

/** Exit codes: 0 done, 1 refused or failed, 2 the command line itself was wrong. */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** An expected failure: its message is printed as is (no stack trace) and the process exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
    /** Print the usage text after the message (an unknown command). */
    readonly showUsage = false,
  ) {
    super(message)
  }
}

/**
 * The server's logger contract, printed for a person: warnings and errors as plain
 * lines on stderr, chatter dropped. Only messages are printed, never field values,
 * so nothing secret can slip through a field.
 */
export function cliLogger(io: Output, verbose = false): Logger {
  const quiet = () => {}
  return {
    debug: verbose ? (msg) => io.err(`debug: ${msg}`) : quiet,
    info: verbose ? (msg) => io.err(msg) : quiet,
    warn: (msg) => io.err(`warning: ${msg}`),
    error: (msg) => io.err(`error: ${msg}`),
  }
}
