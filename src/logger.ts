// One JSON line per event. Field values under secret-looking keys are replaced,
// and callers never pass bodies, headers or query strings, so tokens, cookies
// and passwords cannot reach a log line.

export type Level = 'debug' | 'info' | 'warn' | 'error'
export type Fields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
}

const SECRET_KEY = /pass|secret|token(?!_id|Id)|cookie|authorization|hash|cipher/i
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export function redact(fields: Fields): Fields {
  const out: Fields = {}
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k)) out[k] = '[redacted]'
    else if (v instanceof Error) out[k] = v.message
    else out[k] = v
  }
  return out
}

export function createLogger(write: (line: string) => void, minLevel: Level = 'info'): Logger {
  const emit = (level: Level) => (msg: string, fields?: Fields) => {
    if (ORDER[level] < ORDER[minLevel]) return
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...(fields ? redact(fields) : {}) }))
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

export const consoleLogger = (minLevel: Level = 'info'): Logger => createLogger((line) => console.log(line), minLevel)
