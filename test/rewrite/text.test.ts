// CSS / JS / JSON bodies: what each rule rewrites, what it must leave alone, and that chunking,
// re-rewriting and multi-byte text don't change the answer.
import { describe, expect, it } from 'vitest'
import { createTextCore, createTextRewriter, rewriteText, rewriteTextBytes, rewriteTextReference, type TextKind } from '../../src/rewrite/text'
import { createUrlMapper } from '../../src/rewrite/url-mapper'
import { rewriterFor } from '../../src/runtime/node/html-rewriter-wasm'
import { css, desktop, direct, js, json, LOCAL, PREFIX, PUBLIC, runBytes, UPSTREAM } from './support'

const P = PUBLIC + PREFIX

describe('CSS', () => {
  it('prefixes root-relative url() values, quoted or not, with whitespace or upper case', async () => {
    expect(await css('a{background:url(/img/a.png)}')).toBe(`a{background:url(${PREFIX}/img/a.png)}`)
    expect(await css(`a{background:url("/img/a.png")}`)).toBe(`a{background:url("${PREFIX}/img/a.png")}`)
    expect(await css(`a{background:url( '/img/a b.png' )}`)).toBe(`a{background:url( '${PREFIX}/img/a b.png' )}`)
    expect(await css('a{background:URL(/x.svg#icon)}')).toBe(`a{background:URL(${PREFIX}/x.svg#icon)}`)
    expect(await css('a{background:url(\n/x.png\n)}')).toBe(`a{background:url(\n${PREFIX}/x.png\n)}`)
  })

  it('prefixes @import strings in both quote styles (and @import url())', async () => {
    expect(await css(`@import "/base.css";@import '/theme.css' screen;@import url(/print.css) print;`)).toBe(
      `@import "${PREFIX}/base.css";@import '${PREFIX}/theme.css' screen;@import url(${PREFIX}/print.css) print;`,
    )
  })

  it('maps absolute upstream URLs to the public base', async () => {
    expect(await css(`@font-face{src:url('${UPSTREAM}/fonts/z.woff2')}`)).toBe(`@font-face{src:url('${P}/fonts/z.woff2')}`)
    expect(await css(`a{b:url(${UPSTREAM.toUpperCase()}/x.png)}`)).toBe(`a{b:url(${P}/x.png)}`)
  })

  it('leaves relative, protocol-relative, foreign and data URLs alone', async () => {
    const body = `a{b:url(img/a.png);c:url(../b.png);d:url(//cdn.example/c.png);e:url(https://example.com/d.png);f:url(data:image/png;base64,AAAA)}`
    expect(await css(body)).toBe(body)
  })

  it('does not rewrite root-relative strings outside url()/@import', async () => {
    const body = `a::after{content:"/not/a/url"}`
    expect(await css(body)).toBe(body)
  })
})

describe('JavaScript', () => {
  it('prefixes SockJS endpoint string literals', async () => {
    expect(await js(`var s=new SockJS("/ws");`)).toBe(`var s=new SockJS("${PREFIX}/ws");`)
    expect(await js(`get('/ws/info?t=1')`)).toBe(`get('${PREFIX}/ws/info?t=1')`)
    expect(await js('u=`/ws/${id}/websocket`')).toBe(`u=\`${PREFIX}/ws/\${id}/websocket\``)
  })

  it('leaves other root-relative strings, and /ws look-alikes, alone', async () => {
    const body = `fetch("/api/certs");x="/wsx";y='/ws-old';z="/static/ws";w="/ws\\"";`
    expect(await js(body)).toBe(body)
  })

  it('maps absolute upstream http(s) and ws(s) URLs, plain and JSON-escaped', async () => {
    expect(await js(`a="${UPSTREAM}/api?x=1";b='wss://zenzefi.local:61000/ws/1/websocket'`)).toBe(
      `a="${P}/api?x=1";b='ws://gw.example${PREFIX}/ws/1/websocket'`,
    )
    expect(await js(`cfg={"base":"https:\\/\\/zenzefi.local:61000\\/api\\/v2"}`)).toBe(`cfg={"base":"http:\\/\\/gw.example\\/api\\/v1\\/proxy\\/api\\/v2"}`)
  })
})

describe('JSON', () => {
  it('maps absolute upstream URLs only', async () => {
    const body = JSON.stringify({ self: `${UPSTREAM}/api/x`, next: '/api/x?page=2', ws: '/ws', other: 'https://example.com/' })
    expect(JSON.parse(await json(body))).toEqual({ self: `${P}/api/x`, next: '/api/x?page=2', ws: '/ws', other: 'https://example.com/' })
  })

  it('maps the escaped form and keeps the escaping', async () => {
    expect(await json(`{"u":"https:\\/\\/zenzefi.local:61000\\/a"}`)).toBe(`{"u":"http:\\/\\/gw.example\\/api\\/v1\\/proxy\\/a"}`)
  })

  it('treats any +json type the same way', async () => {
    expect(await rewriteWith('application/problem+json', `{"instance":"${UPSTREAM}/x"}`)).toBe(`{"instance":"${P}/x"}`)
  })
})

async function rewriteWith(contentType: string, body: string) {
  const r = rewriterFor(contentType, direct)!
  return new TextDecoder().decode(await runBytes(r, new TextEncoder().encode(body)))
}

describe('origin boundaries', () => {
  it('matches the origin only when it ends there (no longer port, subdomain or userinfo trick)', async () => {
    const body = [
      `"https://zenzefi.local:610001/x"`,
      `"https://zenzefi.local:61000.evil.com/x"`,
      `"https://zenzefi.local:61000@evil.com/x"`,
      `"https://zenzefi.local/x"`,
      `"http://zenzefi.local:61000/x"`, // other scheme = other origin
    ].join(',')
    expect(await json(body)).toBe(body)
  })

  it('matches a bare origin before a quote, whitespace, ")" or the end of the body', async () => {
    expect(await json(`["${UPSTREAM}"]`)).toBe(`["${P}/"]`)
    expect(await css(`a{b:url(${UPSTREAM})}`)).toBe(`a{b:url(${P}/)}`)
    expect(await js(`// see ${UPSTREAM} for docs`)).toBe(`// see ${P}/ for docs`)
    expect(await js(`// ${UPSTREAM}`)).toBe(`// ${P}/`)
  })

  it('never doubles the prefix', async () => {
    expect(await css(`a{b:url(${PREFIX}/x.png)}`)).toBe(`a{b:url(${PREFIX}/x.png)}`)
    expect(await json(`"${UPSTREAM}${PREFIX}/x"`)).toBe(`"${P}/x"`)
  })
})

describe('desktop mode', () => {
  it('leaves root-relative URLs alone but moves absolute upstream URLs to the local origin', async () => {
    expect(await css(`a{b:url(/x.png);c:url(${UPSTREAM}/y.png)}`, desktop)).toBe(`a{b:url(/x.png);c:url(${LOCAL}/y.png)}`)
    expect(await js(`new SockJS("/ws");u="${UPSTREAM}/a"`, desktop)).toBe(`new SockJS("/ws");u="${LOCAL}/a"`)
  })

  it('passes bodies through when the local proxy sits on the upstream origin itself', () => {
    const same = createUrlMapper({ upstream: LOCAL, backendUrl: PUBLIC, localUrl: LOCAL })
    expect(rewriterFor('text/css', same)).toBeNull()
    expect(rewriterFor('text/html', same)).toBeNull()
  })
})

// Bodies with every rule, long lines, near-misses and multi-byte text, for the chunking tests.
const SAMPLES = {
  css: `@charset "utf-8";\n@import "/base.css";@import url( '/t.css' );\n.a{background:url(/i/ä.png)}/* ${UPSTREAM}/c */\n.b{src:url("${UPSTREAM}/f.woff")}\n.c::before{content:"€ 🚗 ✓"}.d{x:url(//cdn/x)}\n`.repeat(
    3,
  ),
  js: `var s=new SockJS('/ws'),t="/ws/info?x=🚗";fetch("/api");\nvar u="${UPSTREAM}/p?q=ü#h",v='https:\\/\\/zenzefi.local:61000\\/e',w="https://zenzefi.local:610001";\n`.repeat(
    3,
  ),
  json: JSON.stringify({ a: `${UPSTREAM}/a`, b: 'Grüße 🚗', c: [`${UPSTREAM}`, '/root', `wss://zenzefi.local:61000/ws`], d: 'x'.repeat(300) }),
} as const
const TYPES = { css: 'text/css', js: 'text/javascript', json: 'application/json' } as const

describe('streaming', () => {
  for (const kind of ['css', 'js', 'json'] as const) {
    it(`${kind}: every chunk size from 1 to 7 bytes gives the whole-body answer`, async () => {
      const whole = await rewriteWith(TYPES[kind], SAMPLES[kind])
      expect(whole).not.toBe(SAMPLES[kind])
      for (let size = 1; size <= 7; size++) {
        const r = rewriterFor(TYPES[kind], direct)!
        const out = new TextDecoder().decode(await runBytes(r, new TextEncoder().encode(SAMPLES[kind]), [size]))
        expect(out, `chunk size ${size}`).toBe(whole)
      }
    })
  }

  it('finds matches split at every possible position', async () => {
    const body = `a{b:url(/x.png)} c{d:url("${UPSTREAM}/y")}`
    const whole = await css(body)
    const bytes = new TextEncoder().encode(body)
    for (let cut = 1; cut < bytes.byteLength; cut++) {
      const r = rewriterFor('text/css', direct)!
      const out = new TextDecoder().decode(await runBytes(r, bytes, [cut, bytes.byteLength]))
      expect(out, `cut at ${cut}`).toBe(whole)
    }
  })

  it('agrees with the whole body on long bodies with mixed chunk sizes (carry boundaries)', async () => {
    const body = `${SAMPLES.js.repeat(200) + 'y'.repeat(5000)}"${UPSTREAM}/${'z'.repeat(3000)}"${SAMPLES.js}`
    const whole = await js(body)
    expect(await js(body, direct, [3, 4096, 1, 17, 65536, 2])).toBe(whole)
    expect(await js(body, direct, [1000, 999])).toBe(whole)
  })

  it('keeps a multi-byte UTF-8 character split across chunks intact', async () => {
    const body = 'a{content:"ä€🚗"}'.repeat(50)
    expect(await css(body, direct, [1])).toBe(body)
    expect(await css(body, direct, [2, 3])).toBe(body)
  })

  it('never splits a surrogate pair at the carry boundary', async () => {
    // Emoji everywhere, so some carry cut lands between the two halves of a pair.
    const body = `${'🚗'.repeat(10_000)}url(/x)${'🚗x'.repeat(10_000)}`
    expect(await css(body, direct, [4093, 5, 8191])).toBe(`${'🚗'.repeat(10_000)}url(${PREFIX}/x)${'🚗x'.repeat(10_000)}`)
  })

  it('is byte-identical when there is nothing to rewrite (BOM and multi-byte included)', async () => {
    const body = new TextEncoder().encode('\uFEFFa{content:"Grüße 🚗"} b{c:url(img/x.png)}')
    for (const sizes of [[Infinity], [1], [5]]) {
      const r = rewriterFor('text/css', direct)!
      expect(Buffer.from(await runBytes(r, body, sizes)).equals(Buffer.from(body))).toBe(true)
    }
  })
})

describe('idempotency', () => {
  for (const [mode, mapper] of [
    ['direct', direct],
    ['desktop', desktop],
  ] as const) {
    for (const kind of ['css', 'js', 'json'] as const) {
      it(`${kind} in ${mode} mode: rewriting the output again changes nothing`, () => {
        const once = rewriteText(kind, SAMPLES[kind], mapper)
        expect(rewriteText(kind, once, mapper)).toBe(once)
      })
    }
  }
})

describe('the core', () => {
  it('keeps its carry bounded (a few KB) however much text goes in', () => {
    const core = createTextCore('js', direct)
    let held = 0
    for (let i = 0; i < 200; i++) {
      const input = 'x'.repeat(10_000)
      const out = core.push(input)
      held += input.length - out.length
      expect(held).toBeLessThan(8 * 1024)
    }
    expect(core.flush().length).toBe(held)
  })
})

// The pre-scan skips the rule regex (and, on bytes, decoding) where no rule could match: every
// rule's match starts with an upstream origin (plain or JSON-escaped), `url(`, `@import` or a
// quote + `/ws`. It must never change the answer, only its cost.
describe('pre-scan', () => {
  const KINDS = ['css', 'js', 'json'] as const
  const enc = new TextEncoder()
  const dec = new TextDecoder('utf-8', { ignoreBOM: true })
  const streamed = async (kind: TextKind, bytes: Uint8Array, sizes: number[], mapper = direct) =>
    Buffer.from(await runBytes(createTextRewriter(kind, mapper), bytes, sizes))

  // Pieces of every rule, their near misses, case variants and multi-byte text.
  const PIECES = [
    UPSTREAM,
    UPSTREAM.toUpperCase(),
    'https:\\/\\/zenzefi.local:61000',
    'HTTPS:\\/\\/Zenzefi.Local:61000',
    'wss://zenzefi.local:61000',
    'WS://zenzefi.local:61000',
    'https://zenzefi.local',
    ':610001',
    '.evil',
    '@evil',
    '/x',
    '/ws',
    '\\/a',
    '?q=1',
    '#h',
    '"',
    "'",
    '`',
    '(',
    ')',
    'url(',
    'URL( ',
    '@import ',
    '@IMPORT',
    ' ',
    '\n',
    'ä',
    '🚗',
    'plain words 123 ',
  ]
  let seed = 7
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  const generated = Array.from({ length: 400 }, () => Array.from({ length: 1 + rand(24) }, () => PIECES[rand(PIECES.length)]).join(''))
  const samples = [...Object.values(SAMPLES), ...generated]

  for (const kind of KINDS) {
    it(`${kind}: rewriteText, the text core and the byte transform all give the reference answer`, async () => {
      for (const [mode, mapper] of [
        ['direct', direct],
        ['desktop', desktop],
      ] as const) {
        for (const text of samples) {
          const reference = rewriteTextReference(kind, text, mapper)
          expect(rewriteText(kind, text, mapper), `${mode} ${JSON.stringify(text)}`).toBe(reference)
          const core = createTextCore(kind, mapper)
          let out = ''
          for (let at = 0; at < text.length; at += 5) out += core.push(text.slice(at, at + 5))
          expect(out + core.flush(), `${mode} core ${JSON.stringify(text)}`).toBe(reference)
          const bytes = enc.encode(text)
          expect(dec.decode(rewriteTextBytes(kind, bytes, mapper)), `${mode} bytes ${JSON.stringify(text)}`).toBe(reference)
          expect(dec.decode(await streamed(kind, bytes, [3, 1, 7], mapper)), `${mode} streamed ${JSON.stringify(text)}`).toBe(reference)
        }
      }
    })
  }

  it('text without a needle comes back as is; bytes without one as the same array', () => {
    const text = JSON.stringify({ items: [{ id: 1, href: '/api/certificates/1', name: 'Grüße 🚗' }], other: 'https://example.com/x' })
    expect(rewriteText('json', text, direct)).toBe(text)
    const bytes = enc.encode(text)
    expect(rewriteTextBytes('json', bytes, direct)).toBe(bytes)
  })

  it('a needle split at every byte position is still found', async () => {
    const bodies: Array<[TextKind, string]> = [
      ['json', `{"a":"x","u":"${UPSTREAM}/p","b":"y"}`],
      ['json', `{"u":"HTTPS:\\/\\/ZENZEFI.LOCAL:61000\\/p"}`],
      ['js', `var a=1;new SockJS("/ws");var b=2`],
      ['css', `a{b:c}x{y:URL(/i.png)}`],
    ]
    for (const [kind, body] of bodies) {
      const bytes = enc.encode(body)
      const whole = await streamed(kind, bytes, [Infinity])
      expect(dec.decode(whole)).toBe(rewriteTextReference(kind, body, direct))
      expect(dec.decode(whole)).not.toBe(body)
      for (let cut = 1; cut < bytes.byteLength; cut++) {
        expect((await streamed(kind, bytes, [cut, bytes.byteLength])).equals(whole), `${kind} cut at ${cut}`).toBe(true)
        expect((await streamed(kind, bytes, [cut, 1, 2])).equals(whole), `${kind} cut at ${cut}, then small`).toBe(true)
      }
    }
  })

  it('a needle cut off by the end of the body is just text', async () => {
    for (const body of [`{"u":"https://zenzefi.lo`, `{"u":"h`, `{"u":"https:\\/\\/zenzefi.local:6100`, `x"/w`]) {
      const bytes = enc.encode(body)
      for (const sizes of [[Infinity], [1], [2, 5]]) {
        expect(Buffer.from(await runBytes(createTextRewriter('js', direct), bytes, sizes)).equals(Buffer.from(bytes)), body).toBe(true)
      }
    }
  })

  it('invalid UTF-8 before the first needle passes as it came; after it, U+FFFD; the same for every chunking', async () => {
    const head = Uint8Array.from([0x7b, 0xff, 0xc3, 0x22, 0xe2, 0x82]) // {, invalid, truncated ä, ", truncated €
    const needle = enc.encode(`"${UPSTREAM}/a"`)
    const body = Uint8Array.from([...head, ...needle, 0xc3, 0x7d])
    const whole = await streamed('json', body, [Infinity])
    expect(Buffer.from(whole.subarray(0, head.byteLength)).equals(Buffer.from(head))).toBe(true)
    expect(dec.decode(whole.subarray(head.byteLength))).toBe(`"${PUBLIC}${PREFIX}/a"\uFFFD}`)
    for (let size = 1; size <= 7; size++) expect((await streamed('json', body, [size])).equals(whole), `chunk size ${size}`).toBe(true)
    expect(Buffer.from(rewriteTextBytes('json', body, direct)).equals(whole)).toBe(true)
    // Without a needle the body passes byte for byte, invalid bytes and all.
    for (const sizes of [[Infinity], [1], [2, 3]]) expect((await streamed('json', head, sizes)).equals(Buffer.from(head))).toBe(true)
  })

  it('passes a needle-free body without copying it (the chunk itself comes back)', async () => {
    const r = createTextRewriter('json', direct)
    const chunk = enc.encode('{"a":"b","c":[1,2,3]}')
    expect(await r.write(chunk)).toBe(chunk)
    expect((await r.end()).byteLength).toBe(0)
  })
})
