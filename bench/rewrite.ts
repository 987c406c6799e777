// npm run bench:rewrite — body-rewriting throughput: a ~20 MB synthetic HTML page, stylesheet
// and script, each fed in 16 KB chunks as a proxied response would arrive. Measured, not asserted.

import type { ChunkRewriter } from '../src/rewrite/body'
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
