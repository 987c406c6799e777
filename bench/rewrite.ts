// npm run bench:rewrite — body-rewriting throughput: a ~20 MB synthetic HTML page, stylesheet
// and script, each fed in 16 KB chunks as a proxied response would arrive; then the per-response
// cost of small (~1 KB) REST answers, where fixed overhead rather than throughput decides.
// Measured, not asserted.
//
//   BENCH_ROUNDS  rounds per large body (default 5)
//   BENCH_SMALL   iterations per round for the small bodies (default 100000)

import type { ChunkRewriter } from '../src/rewrite/body'
import { createTextRewriter, rewriteText, rewriteTextBytes, type TextKind } from '../src/rewrite/text'
import { createUrlMapper } from '../src/rewrite/url-mapper'
import { rewriterFor } from '../src/runtime/node/html-rewriter-wasm'
import { type Cell, fmt, printTable } from './lib/table'

const TARGET_BYTES = 20 * 1024 * 1024
const CHUNK = 16 * 1024
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5)
const UPSTREAM = 'https://zenzefi.local:61000'

const mapper = createUrlMapper({ upstream: UPSTREAM, backendUrl: 'https://gw.example.com', localUrl: null })

// A certificate table as a Spring Boot admin page renders it: one rewritten link per ~350-byte row.
const TABLE_ROW = `<tr><td class="id">1234</td><td><a href="/certificates/1234">ZF-Gateway-Cert 1234</a></td>
<td>Prüfstand Ünterkühlung · valid 2026-01-01 → 2027-01-01</td><td><span class="badge badge-ok">active</span></td>
<td><button type="button" class="btn btn-sm" data-id="1234" onclick="renew(1234)">Renew</button> <a href="#" class="more">more</a></td></tr>
`
// Worst case: every kind of URL attribute, a rewrite every ~115 bytes.
const HTML_BLOCK = `<tr class="row"><td><a href="/certificates/1234?tab=details">Certificate 1234</a></td>
<td><img src="/img/status-ok.png" srcset="/img/status-ok.png 1x, /img/status-ok@2x.png 2x" alt="ok"></td>
<td style="background:url('/img/bg.png') no-repeat">Valid until 2027-01-01 — Prüfstand Ünterkühlung</td>
<td><form action="/certificates/1234/renew" method="post"><button formaction="/certificates/1234/revoke">Revoke</button></form></td>
<td><a href="${UPSTREAM}/docs/help.html#renew">Help</a> <span class="muted">plain text with no URL at all, just words and numbers 12345</span></td></tr>
`
const CSS_BLOCK = `.panel{background:url("/img/panel.png") no-repeat;border:1px solid #ccc;padding:4px 8px}
.icon-ok{background-image:url(/img/icons.svg#ok)}.muted{color:#888;font:12px/1.4 "Segoe UI",sans-serif}
@font-face{font-family:Z;src:url('${UPSTREAM}/fonts/z.woff2') format("woff2")}
.table td{vertical-align:top;white-space:nowrap;text-overflow:ellipsis;overflow:hidden;max-width:20em}
`
const JS_BLOCK = `function connect(){var sock=new SockJS("/ws");var client=Stomp.over(sock);client.connect({},function(){client.subscribe("/topic/certs",render)})}
var api="${UPSTREAM}/api/certificates",cfg={"base":"https:\\/\\/zenzefi.local:61000\\/api"};function render(m){return JSON.parse(m.body).items.map(function(i){return i.id+":"+i.name}).join("\\n")}
`

function body(head: string, block: string, tail: string): Uint8Array {
  const enc = new TextEncoder()
  const n = Math.ceil((TARGET_BYTES - head.length - tail.length) / enc.encode(block).byteLength)
  return enc.encode(head + block.repeat(n) + tail)
}

const HTML_HEAD = '<!doctype html><html><head><title>Certificates</title><link rel="stylesheet" href="/css/app.css"></head><body><table>\n'
const HTML_TAIL = '</table></body></html>\n'

const bodies: Array<[label: string, contentType: string, bytes: Uint8Array]> = [
  ['HTML table page (html-rewriter-wasm)', 'text/html; charset=utf-8', body(HTML_HEAD, TABLE_ROW, HTML_TAIL)],
  ['HTML, URL-dense (html-rewriter-wasm)', 'text/html; charset=utf-8', body(HTML_HEAD, HTML_BLOCK, HTML_TAIL)],
  ['CSS (text transform)', 'text/css', body('', CSS_BLOCK, '')],
  ['JavaScript (text transform)', 'application/javascript', body('', JS_BLOCK, '')],
]

async function run(r: ChunkRewriter, bytes: Uint8Array): Promise<number> {
  let out = 0
  try {
    for (let at = 0; at < bytes.byteLength; at += CHUNK) out += (await r.write(bytes.subarray(at, at + CHUNK))).byteLength
    out += (await r.end()).byteLength
  } finally {
    r.free()
  }
  return out
}

const rows: Cell[][] = []
for (const [label, contentType, bytes] of bodies) {
  await run(rewriterFor(contentType, mapper)!, bytes.subarray(0, 1024 * 1024)) // warm-up (JIT, wasm)
  const seconds: number[] = []
  let outBytes = 0
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint()
    outBytes = await run(rewriterFor(contentType, mapper)!, bytes)
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9)
  }
  seconds.sort((a, b) => a - b)
  const mb = bytes.byteLength / (1024 * 1024)
  rows.push([label, fmt(mb), fmt(outBytes / (1024 * 1024)), fmt(mb / seconds[Math.floor(seconds.length / 2)]!), fmt(mb / seconds[0]!)])
}

printTable(
  `Body rewriting throughput (${ROUNDS} rounds, ${CHUNK / 1024} KB chunks, Node ${process.version})`,
  ['body', 'in MB', 'out MB', 'median MB/s', 'best MB/s'],
  rows,
  ['MB = 2^20 bytes of input. One core, no network: the cost the proxy adds per rewritten response.'],
)

// Small REST answers: a ~1 KB JSON body as Zenzefi's API returns it. The Node proxy rewrites a
// small body in one pass (rewriteText on the decoded string, or rewriteTextBytes on the bytes);
// Workers and large bodies stream it (createTextRewriter). For scale: decoding and re-encoding
// the bytes, which a string pass pays around rewriteText and the byte paths pay only from the
// first needle (upstream origin, url(, @import, "/ws) on.
const SMALL_ROUNDS = 5
const SMALL_ITERATIONS = Number(process.env.BENCH_SMALL || 100_000)

function certificateList(self: (id: number) => string): string {
  const items = []
  for (let id = 1; JSON.stringify(items).length < 880; id++) {
    items.push({
      id,
      name: `ZF-Gateway-Cert ${id}`,
      subject: 'CN=Prüfstand 7, O=Zenzefi',
      valid_until: '2027-01-01T00:00:00Z',
      status: 'active',
      self: self(id),
    })
  }
  return JSON.stringify({ total: items.length, page: 1, items })
}

const small: Array<[label: string, kind: TextKind, text: string]> = [
  ['1 KB JSON, no URL at all', 'json', certificateList((id) => `cert-${id}`)],
  ['1 KB JSON, root-relative paths', 'json', certificateList((id) => `/api/certificates/${id}`)],
  ['1 KB JSON, upstream URLs', 'json', certificateList((id) => `${UPSTREAM}/api/certificates/${id}`)],
  ['1 KB JS, no upstream URL or /ws', 'js', `(function(){var t=${certificateList((id) => `/api/certificates/${id}`)};window.render(t)})()`],
]

/** Median ns per call of `fn` over SMALL_ROUNDS rounds. */
async function nsPer(fn: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < SMALL_ITERATIONS / 10; i++) await fn() // warm-up
  const rounds: number[] = []
  for (let r = 0; r < SMALL_ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < SMALL_ITERATIONS; i++) await fn()
    rounds.push(Number(process.hrtime.bigint() - t0) / SMALL_ITERATIONS)
  }
  return rounds.sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!
}

const smallRows: Cell[][] = []
const enc = new TextEncoder()
const dec = new TextDecoder()
for (const [label, kind, text] of small) {
  const bytes = enc.encode(text)
  const floor = await nsPer(() => enc.encode(dec.decode(bytes)))
  const whole = await nsPer(() => rewriteText(kind, text, mapper))
  const wholeBytes = await nsPer(() => rewriteTextBytes(kind, bytes, mapper))
  const streamed = await nsPer(async () => {
    const r = createTextRewriter(kind, mapper)
    await r.write(bytes)
    await r.end()
  })
  smallRows.push([label, bytes.byteLength, fmt(floor, 0), fmt(whole, 0), fmt(wholeBytes, 0), fmt(streamed, 0)])
}

printTable(
  `Small bodies: ns per response (median of ${SMALL_ROUNDS} rounds × ${SMALL_ITERATIONS})`,
  ['body', 'bytes', 'decode+encode ns', 'rewriteText ns', 'rewriteTextBytes ns', 'streamed ns'],
  smallRows,
  [
    'rewriteText: string in, string out (the caller decodes and encodes around it).',
    'rewriteTextBytes: bytes in, bytes out, in one call; a body without a needle is returned undecoded.',
    'streamed: createTextRewriter write + end on the bytes (Workers, and large bodies on Node).',
  ],
)
