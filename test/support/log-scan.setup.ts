// A vitest setup file (vitest.config.ts setupFiles): after each test file, fails it if
// any access token, cookie value, JWT, password or SECRET_KEY the harness issued appears
// in any log line written meanwhile — by the apps' loggers (test/support/harness.ts),
// the worker processes of the parity suite (test/parity/targets.ts), or anything that
// printed through console or stdout/stderr in the test process.

import { afterAll } from 'vitest'
import { leaks, recordLogLine, takeRecord } from './log-scan'

const WRAPPED = Symbol.for('zenzefi.test.log-scan.wrapped')
type Wrappable = ((...args: never[]) => unknown) & { [WRAPPED]?: true }

function text(value: unknown): string {
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** Records what a function prints, then calls it; once per function, whatever reloads this file. */
function tap<T extends object, K extends keyof T>(owner: T, name: K) {
  const original = owner[name] as unknown as Wrappable
  if (typeof original !== 'function' || original[WRAPPED]) return
  const wrapped = function (this: unknown, ...args: unknown[]) {
    recordLogLine(args.map(text).join(' '))
    return (original as (...a: unknown[]) => unknown).apply(this, args)
  } as unknown as Wrappable
  wrapped[WRAPPED] = true
  owner[name] = wrapped as unknown as T[K]
}

for (const name of ['log', 'info', 'warn', 'error', 'debug'] as const) tap(console, name)
tap(process.stdout, 'write')
tap(process.stderr, 'write')

afterAll(() => {
  const { lines, secrets } = takeRecord()
  const found = leaks(lines, secrets)
  if (found.length === 0) return
  const list = found.map((l) => `- ${l.what}: …${l.line}…`).join('\n')
  throw new Error(`${found.length} issued secret(s) found in log output (of ${lines.length} lines):\n${list}`)
})
