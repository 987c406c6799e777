// Header rules that guard the proxy: responses are never publicly cacheable, and a request
// body always reaches Zenzefi framed (Connection can't remove Content-Length; Transfer-Encoding
// is re-framed by the transport; malformed lengths are refused).
import { describe, expect, it } from 'vitest'
import {
  downstreamResponseHeaders,
  type HeaderPair,
  privateCacheControl,
  requestBodyFraming,
  type UpstreamContext,
  upstreamRequestHeaders,
} from '../../src/gateway/headers'
import { createUrlMapper } from '../../src/rewrite/url-mapper'

const mapper = createUrlMapper({ upstream: 'https://zenzefi.local:61000', backendUrl: 'http://gw.example', localUrl: null })
const ctx: UpstreamContext = {
  upstreamHost: 'zenzefi.local:61000',
  clientIp: '203.0.113.7',
  proto: 'https',
  clientHost: 'gw.example',
  userId: 'u1',
  tokenId: 't1',
}

/** The downstream headers as [name, value] pairs. */
function downstream(pairs: HeaderPair[], rewriting = false): HeaderPair[] {
  const flat = downstreamResponseHeaders(pairs, { mapper, rewriting, corsOrigin: null })
  const out: HeaderPair[] = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!])
  return out
}
const cacheControlOf = (pairs: HeaderPair[]) => downstream(pairs).filter(([n]) => n.toLowerCase() === 'cache-control')

/** Directive names, lower case. */
const directives = (value: string) => value.split(',').map((d) => d.split('=')[0]!.trim().toLowerCase())

describe('Cache-Control downstream: never publicly cacheable', () => {
  const CASES: Array<[upstream: string[], client: string]> = [
    [[], 'private'],
    [[''], 'private'],
    [['public, max-age=3600'], 'private, max-age=3600'],
    [['max-age=60, s-maxage=600, proxy-revalidate'], 'private, max-age=60'],
    [['PUBLIC, Max-Age=5, S-MAXAGE=10, Proxy-Revalidate'], 'private, Max-Age=5'],
    [['public,max-age=60,must-revalidate'], 'private, max-age=60, must-revalidate'],
    [['private, max-age=60'], 'private, max-age=60'],
    [['Private'], 'Private'],
    [['no-store'], 'no-store'],
    [['public, no-store'], 'no-store'],
    [['NO-STORE, max-age=0'], 'NO-STORE, max-age=0'],
    [['no-cache'], 'private, no-cache'],
    [['max-age=0, must-revalidate'], 'private, max-age=0, must-revalidate'],
    [['immutable, max-age=31536000, public'], 'private, immutable, max-age=31536000'],
    // A qualified private covers one field only: it gives way to the plain one.
    [['private="Set-Cookie", max-age=60'], 'private, max-age=60'],
    // Quoted commas are not directive separators.
    [['no-cache="Set-Cookie, X-Foo", public'], 'private, no-cache="Set-Cookie, X-Foo"'],
    // Several headers become one, in order.
    [['public', 'max-age=60'], 'private, max-age=60'],
    [['max-age=60', 'private'], 'max-age=60, private'],
    [['s-maxage=600', 'stale-while-revalidate=30'], 'private, stale-while-revalidate=30'],
  ]

  it.each(CASES)('%j → %j', (upstream, client) => {
    expect(privateCacheControl(upstream)).toBe(client)
    const cc = cacheControlOf(upstream.map((v) => ['Cache-Control', v] as HeaderPair))
    expect(cc).toEqual([['Cache-Control', client]])
  })

  it('always: one Cache-Control, with private or no-store, and no public, s-maxage or proxy-revalidate', () => {
    for (const [upstream] of CASES) {
      for (const name of ['Cache-Control', 'cache-control', 'CACHE-CONTROL']) {
        const cc = cacheControlOf([['Content-Type', 'text/html'], ...upstream.map((v) => [name, v] as HeaderPair), ['ETag', '"x"']])
        expect(cc).toHaveLength(1)
        const names = directives(cc[0]![1])
        expect(names.includes('private') || names.includes('no-store'), cc[0]![1]).toBe(true)
        for (const shared of ['public', 's-maxage', 'proxy-revalidate']) expect(names).not.toContain(shared)
      }
    }
  })

  it('keeps the place of the first Cache-Control and every other header', () => {
    expect(
      downstream([
        ['ETag', '"a"'],
        ['Cache-Control', 'public'],
        ['Vary', 'Accept'],
        ['cache-control', 'max-age=9'],
      ]),
    ).toEqual([
      ['ETag', '"a"'],
      ['Cache-Control', 'private, max-age=9'],
      ['Vary', 'Accept'],
    ])
  })

  it('adds private when Connection names Cache-Control (it is then dropped as hop-by-hop)', () => {
    expect(
      cacheControlOf([
        ['Connection', 'Cache-Control'],
        ['Cache-Control', 'public, max-age=60'],
      ]),
    ).toEqual([['Cache-Control', 'private']])
  })

  it('drops CDN-only cache headers that would override ours at a CDN', () => {
    const out = downstream([
      ['CDN-Cache-Control', 'public, max-age=600'],
      ['Cloudflare-CDN-Cache-Control', 'max-age=600'],
      ['Surrogate-Control', 'max-age=600'],
    ])
    expect(out).toEqual([['Cache-Control', 'private']])
  })

  it('applies when the body is rewritten too', () => {
    expect(
      downstream(
        [
          ['Cache-Control', 'public, max-age=60'],
          ['Content-Length', '10'],
        ],
        true,
      ),
    ).toEqual([['Cache-Control', 'private, max-age=60']])
  })
})

describe('requestBodyFraming', () => {
  const framing = (headers: Record<string, string>) => requestBodyFraming((name) => headers[name])

  it('no framing headers: no body', () => {
    expect(framing({})).toEqual({ kind: 'none' })
    expect(requestBodyFraming(() => null)).toEqual({ kind: 'none' })
  })

  it('any Transfer-Encoding: chunked (it overrides a Content-Length)', () => {
    for (const te of ['chunked', 'CHUNKED', 'gzip, chunked', 'identity', 'chunked, gzip', '', 'x']) {
      expect(framing({ 'transfer-encoding': te }), te).toEqual({ kind: 'chunked' })
      expect(framing({ 'transfer-encoding': te, 'content-length': '5' }), te).toEqual({ kind: 'chunked' })
      expect(framing({ 'transfer-encoding': te, 'content-length': 'bogus' }), te).toEqual({ kind: 'chunked' })
    }
  })

  it('a plain non-negative integer Content-Length: that length (0: no body); agreeing repeats are one', () => {
    expect(framing({ 'content-length': '5' })).toEqual({ kind: 'length', length: 5 })
    expect(framing({ 'content-length': '0' })).toEqual({ kind: 'none' })
    expect(framing({ 'content-length': '00' })).toEqual({ kind: 'none' })
    expect(framing({ 'content-length': '5, 5' })).toEqual({ kind: 'length', length: 5 })
    expect(framing({ 'content-length': '5,5,5' })).toEqual({ kind: 'length', length: 5 })
    expect(framing({ 'content-length': ' 7 ' })).toEqual({ kind: 'length', length: 7 })
    expect(framing({ 'content-length': '9007199254740991' })).toEqual({ kind: 'length', length: 9007199254740991 })
  })

  it('a malformed or disagreeing Content-Length: invalid', () => {
    for (const cl of [
      '',
      ' ',
      '-1',
      '+5',
      '5.0',
      '0x10',
      '1e3',
      '5 5',
      '5;',
      'five',
      '5, 6',
      '5,',
      ',5',
      '5, ',
      '9007199254740993',
      '99999999999999999999',
      '٥',
    ]) {
      expect(framing({ 'content-length': cl }), JSON.stringify(cl)).toEqual({ kind: 'invalid' })
    }
  })
})

describe('upstreamRequestHeaders: framing survives', () => {
  const up = (pairs: HeaderPair[]) => upstreamRequestHeaders(pairs, ctx)

  it('Content-Length is kept whatever Connection says, in every spelling', () => {
    const connections: HeaderPair[][] = [
      [['Connection', 'content-length']],
      [['connection', 'Content-Length']],
      [['CONNECTION', 'CONTENT-LENGTH']],
      [['Connection', 'keep-alive, Content_Length']],
      [['Connection', ' content-length ,close']],
      [
        ['Connection', 'close'],
        ['Connection', 'Content-Length'],
      ],
      [['Connection', 'content_length, x-foo']],
    ]
    for (const conn of connections) {
      const out = up([['Content-Length', '5'], ...conn, ['Content-Type', 'text/plain']])
      expect(out['content-length'], JSON.stringify(conn)).toBe('5')
      expect(out.connection).toBeUndefined()
    }
  })

  it('other headers Connection names are dropped, in any case and `_` spelling', () => {
    for (const [listed, sent] of [
      ['x-foo', 'X-Foo'],
      ['X-FOO', 'x-foo'],
      ['x_foo', 'X-Foo'],
      ['x-foo', 'X_Foo'],
    ]) {
      const out = up([
        ['Connection', `keep-alive, ${listed}`],
        [sent!, '1'],
        ['X-Bar', '2'],
      ])
      expect(
        Object.keys(out).filter((k) => k.replace(/_/g, '-').toLowerCase() === 'x-foo'),
        `${listed} / ${sent}`,
      ).toEqual([])
      expect(out['x-bar']).toBe('2')
    }
  })

  it('Transfer-Encoding is always dropped, and a Content-Length beside it too (the transport frames the chunked body)', () => {
    for (const name of ['Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING', 'Transfer_Encoding']) {
      const out = up([
        [name, 'chunked'],
        ['Content-Length', '5'],
      ])
      expect(out['transfer-encoding'], name).toBeUndefined()
      expect(
        Object.keys(out).some((k) => k.toLowerCase().replace(/_/g, '-') === 'transfer-encoding'),
        name,
      ).toBe(false)
    }
    expect(
      up([
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '5'],
      ])['content-length'],
    ).toBeUndefined()
  })

  it('one normalised Content-Length, or none when it is invalid; a `_` spelling never reaches Zenzefi', () => {
    expect(
      up([
        ['Content-Length', '5'],
        ['content-length', '5'],
      ])['content-length'],
    ).toBe('5')
    expect(up([['Content-Length', '0']])['content-length']).toBe('0')
    expect(up([['Content-Length', '007']])['content-length']).toBe('7')
    expect(
      up([
        ['Content-Length', '5'],
        ['Content-Length', '6'],
      ])['content-length'],
    ).toBeUndefined()
    expect(up([['Content-Length', 'abc']])['content-length']).toBeUndefined()
    expect(up([])['content-length']).toBeUndefined()
    const underscored = up([['Content_Length', '5']])
    expect(Object.keys(underscored).filter((k) => k.toLowerCase().replace(/_/g, '-') === 'content-length')).toEqual([])
  })

  it('agrees with requestBodyFraming on what it forwards', () => {
    const samples: HeaderPair[][] = [[], [['Content-Length', '5']], [['Content-Length', '0']], [['Transfer-Encoding', 'chunked']], [['Content-Length', 'x']]]
    for (const pairs of samples) {
      const f = requestBodyFraming((n) => pairs.find(([k]) => k.toLowerCase() === n)?.[1])
      const cl = up(pairs)['content-length']
      if (f.kind === 'length') expect(cl).toBe(String(f.length))
      else if (f.kind === 'chunked' || f.kind === 'invalid') expect(cl).toBeUndefined()
    }
  })
})

describe('downstreamResponseHeaders: framing survives', () => {
  it('Connection naming Content-Length does not remove it', () => {
    expect(
      downstream([
        ['Connection', 'Content-Length'],
        ['Content-Length', '5'],
      ]),
    ).toContainEqual(['Content-Length', '5'])
  })
})

describe('downstreamResponseHeaders: no header names Zenzefi', () => {
  it('maps Zenzefi’s origin in any header (Link, CSP, Report-To), in any case, and leaves other URLs alone', () => {
    const out = downstreamResponseHeaders(
      [
        ['Link', '<https://zenzefi.local:61000/app.css>; rel=preload, <https://cdn.example/x.js>; rel=preload'],
        ['Content-Security-Policy', "default-src 'self' https://ZENZEFI.local:61000 wss://zenzefi.local:61000/ws"],
        ['Report-To', '{"url":"https://zenzefi.local:61000/report"}'],
        ['X-Plain', 'nothing to see'],
      ],
      { mapper, rewriting: false, corsOrigin: null },
    )
    const text = out.join('\n')
    expect(text.toLowerCase()).not.toContain('zenzefi.local')
    expect(text).toContain('<http://gw.example/api/v1/proxy/app.css>; rel=preload')
    expect(text).toContain('https://cdn.example/x.js')
    expect(text).toContain('ws://gw.example/api/v1/proxy/ws')
    expect(text).toContain('nothing to see')
  })
})
