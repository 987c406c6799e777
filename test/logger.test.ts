import { describe, expect, it } from 'vitest'
import { createLogger } from '../src/logger'

const lineOf = (msg: string, fields?: Record<string, unknown>) => {
  const lines: string[] = []
  createLogger((l) => lines.push(l)).info(msg, fields)
  return lines[0]!
}

describe('log lines', () => {
  it('are the JSON one object would give: every kind of value, escapes, and fields left out as JSON leaves them out', () => {
    const fields = {
      path: '/zenzefi/a "quoted" \\ path',
      status: 200,
      ms: 12.3,
      none: null,
      absent: undefined,
      yes: true,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      neg: -0,
      list: [1, 'a', null],
      nested: { k: 'v' },
      unicode: 'é ☃ \u2028 \ud800',
      control: 'a\nb\tc\u0001',
      when: new Date(0),
      fn: () => 1,
    }
    const line = lineOf('proxy "x"', fields)
    const time = JSON.parse(line).time
    expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(line).toBe(JSON.stringify({ time, level: 'info', msg: 'proxy "x"', ...fields }))
  })

  it('a field named time, level or msg replaces that one, in its place', () => {
    const parsed = JSON.parse(lineOf('first', { msg: 'second', a: 1 }))
    expect(Object.keys(parsed)).toEqual(['time', 'level', 'msg', 'a'])
    expect(parsed.msg).toBe('second')
  })

  it('a secret-looking field is redacted and an error is reduced, as before', () => {
    const parsed = JSON.parse(lineOf('m', { password: 'hunter2', token_id: 'id-1', err: new TypeError('bad') }))
    expect(parsed.password).toBe('[redacted]')
    expect(parsed.token_id).toBe('id-1')
    expect(parsed.err).toMatchObject({ name: 'TypeError', message: 'bad' })
  })
})
