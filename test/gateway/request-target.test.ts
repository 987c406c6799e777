// The request-target's normal form: what routing and forwarding decide on, on Node (raw
// targets) and Workers (WHATWG-parsed URLs) alike. Dot segments and `\` are cross-checked
// against the WHATWG URL parser, so both runtimes route the same target the same way.
import { describe, expect, it } from 'vitest'
import { normaliseTarget } from '../../src/gateway/request-target'

// [raw, path, search]
const ORIGIN_FORM: Array<[string, string, string]> = [
  ['/', '/', ''],
  ['/a/b?q', '/a/b', '?q'],
  ['/a/b?', '/a/b', '?'],
  ['/a/b?q=1#frag', '/a/b', '?q=1'],
  ['/a#f?x', '/a', ''],
  ['/api/v1/proxy/x', '/api/v1/proxy/x', ''],
  // Dot segments, literal and percent-encoded in any case mix.
  ['/api/v1/proxy/a/../../../x', '/api/x', ''],
  ['/api/v1/proxy/%2e%2e/%2E%2e/x', '/api/x', ''],
  ['/api/v1/proxy/.%2e/x', '/api/v1/x', ''],
  ['/api/v1/proxy/%2e./x', '/api/v1/x', ''],
  ['/api/v1/proxy/%2E%2E/x', '/api/v1/x', ''],
  ['/api/v1/proxy/./x', '/api/v1/proxy/x', ''],
  ['/api/v1/proxy/%2e/x', '/api/v1/proxy/x', ''],
  ['/api/v1/proxy/%2E/x', '/api/v1/proxy/x', ''],
  ['/api/v1/proxy/..', '/api/v1/', ''],
  ['/api/v1/proxy/x/.', '/api/v1/proxy/x/', ''],
  ['/api/v1/proxy/x/%2e', '/api/v1/proxy/x/', ''],
  ['/a//../b', '/a/b', ''],
  ['/a/b/..?q=../x', '/a/', '?q=../x'],
  ['/a;x=1/../b', '/b', ''],
  // Never above the root.
  ['/..', '/', ''],
  ['/../../x', '/x', ''],
  ['/%2e%2e/%2e%2e/%2e%2e', '/', ''],
  // Not dot segments: kept byte for byte, escapes not decoded.
  ['/a/.../b', '/a/.../b', ''],
  ['/a/%2e%2e%2e/b', '/a/%2e%2e%2e/b', ''],
  ['/a/..%2f/b', '/a/..%2f/b', ''],
  ['/a/%2e%2e%2Fb', '/a/%2e%2e%2Fb', ''],
  ['/a/%2F../b', '/a/%2F../b', ''],
  ['/a/.x/..x/x..', '/a/.x/..x/x..', ''],
  ['/a%20b/%41', '/a%20b/%41', ''],
  ['/a/%2e%', '/a/%2e%', ''],
  // `\` is `/` in the path (as WHATWG reads http URLs), kept in the query.
  ['/api\\v1\\proxy\\..\\..\\x', '/api/x', ''],
  ['/api/v1/proxy/..\\x', '/api/v1/x', ''],
  ['/api/v1/proxy/%2e%2e\\%2e%2e\\x', '/api/x', ''],
  ['/a\\b?c\\d', '/a/b', '?c\\d'],
]

const ABSOLUTE_FORM: Array<[string, string, string]> = [
  ['http://evil.example/api/v1/proxy/x?y=1', '/api/v1/proxy/x', '?y=1'],
  ['https://evil.example:8443/a/../b', '/b', ''],
  ['HTTP://evil.example/x', '/x', ''],
  ['hTtPs://evil.example/%2e%2e/x', '/x', ''],
  ['http://evil.example', '/', ''],
  ['http://evil.example?x=1', '/', '?x=1'],
  ['http://evil.example#f', '/', ''],
  ['http://user:pw@evil.example/x', '/x', ''],
  ['http://[::1]:8000/x', '/x', ''],
  ['http:\\\\evil.example\\x\\..\\y', '/y', ''],
  ['http:/\\evil.example/x', '/x', ''],
]

const REFUSED = [
  '',
  '*',
  'example.com:443', // authority-form
  'a/b',
  '?x',
  '#x',
  '\\a', // not origin-form
  'ftp://h/x',
  'ws://h/x',
  'http:/x',
  'http:x',
  'http:///x', // no authority
  ' /a',
  '/a b',
  '/a\tb',
  '/a\u0000',
  '/a\u001f',
  '/a\u007f',
  '/a\r\nX-Injected: 1',
  '/a?b c',
  'http://evil example/x',
]

describe('normaliseTarget', () => {
  it.each(ORIGIN_FORM)('origin-form %j', (raw, path, search) => {
    expect(normaliseTarget(raw)).toEqual({ path, search })
  })

  it.each(ABSOLUTE_FORM)('absolute-form %j: path and query only, the authority ignored', (raw, path, search) => {
    expect(normaliseTarget(raw)).toEqual({ path, search })
  })

  it.each(REFUSED)('refuses %j', (raw) => {
    expect(normaliseTarget(raw)).toBeNull()
  })

  it('agrees with the WHATWG URL parser on dot segments and backslashes (what Workers see)', () => {
    const cases = [...ORIGIN_FORM, ...ABSOLUTE_FORM].map(([raw]) => raw)
    for (const raw of cases) {
      const whatwg = new URL(raw, 'http://x').pathname
      expect(normaliseTarget(raw)!.path, raw).toBe(whatwg)
    }
  })

  it('agrees with the WHATWG URL parser on generated paths of dot segments, escapes and backslashes', () => {
    // Pieces WHATWG keeps as they are in a path (no re-encoding), so the two must agree exactly.
    const pieces = ['a', 'b', '.', '..', '%2e', '%2E', '.%2e', '%2e.', '%2E%2e', '...', '%2f', '%2e%2e%2f', ';p=1', '/', '\\', '//']
    let seed = 42
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed
    }
    for (let n = 0; n < 3000; n++) {
      let raw = '/api/v1/proxy/'
      const count = 1 + (next() % 9)
      for (let i = 0; i < count; i++) raw += pieces[next() % pieces.length]
      if (next() % 3 === 0) raw += '?q=/../x\\y'
      const ours = normaliseTarget(raw)!
      const url = new URL(raw, 'http://x')
      expect(ours.path, raw).toBe(url.pathname)
      expect(ours.path.startsWith('/'), raw).toBe(true)
      // And through absolute-form the same.
      expect(normaliseTarget(`http://evil.example${raw}`), raw).toEqual(ours)
    }
  })

  it('is idempotent: a normal form normalises to itself', () => {
    for (const [raw] of [...ORIGIN_FORM, ...ABSOLUTE_FORM]) {
      const once = normaliseTarget(raw)!
      expect(normaliseTarget(once.path + once.search), raw).toEqual(once)
    }
  })
})
