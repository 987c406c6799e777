// Child process for bench/proxy.ts: the stand-in Zenzefi host. HTTPS with the bench CA's
// certificate (plain HTTP when no BENCH_TLS_KEY is given), keep-alive, and a WebSocket echo. Reports { ready, port } over IPC.
//   /small        ~1 KB application/json (with URLs the gateway rewrites)
//   /1k.json      1,024 B application/json with no URL in it (the side-by-side harness's 1k.json)
//   /small.bin    the same bytes as application/octet-stream (passed through unchanged)
//   /64k          64 KB application/octet-stream
//   /big?bytes=N  N bytes of application/octet-stream from one reused buffer, with backpressure
//   /page         ~1 MB text/html certificate table (a rewritten link per row)
//   /ws           WebSocket echo
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { WebSocketServer } from 'ws'

const tls = process.env.BENCH_TLS_KEY ? { key: readFileSync(process.env.BENCH_TLS_KEY), cert: readFileSync(process.env.BENCH_TLS_CERT!) } : null
const createServer = (handler: RequestListener) => (tls ? createHttpsServer(tls, handler) : createHttpServer(handler))

const PAGE_ROW = (i: number) =>
  `<tr><td class="id">${i}</td><td><a href="/certificates/${i}">ZF-Gateway-Cert ${i}</a></td>
<td>Prüfstand Ünterkühlung · valid 2026-01-01 → 2027-01-01</td><td><span class="badge badge-ok">active</span></td>
<td><button type="button" class="btn btn-sm" data-id="${i}" onclick="renew(${i})">Renew</button> <a href="#" class="more">more</a></td></tr>
`

function smallJson(origin: string): Buffer {
  const items = []
  for (let i = 1; i <= 4; i++) {
    items.push({
      id: i,
      name: `ZF-Gateway-Cert ${i}`,
      status: 'active',
      href: `/api/certificates/${i}`,
      self: `${origin}/api/certificates/${i}`,
      validUntil: '2027-01-01T00:00:00Z',
    })
  }
  const body = { page: 1, size: 4, total: 4, next: null, items, _links: { self: `${origin}/api/certificates?page=1` } }
  return Buffer.from(JSON.stringify(body))
}

/** 1,024 bytes of JSON with nothing for a rewriter to find, padded as ../shared/bench pads its 1k.json. */
function oneK(): Buffer {
  const s = JSON.stringify({ id: 1, name: 'ZF-Gateway-Cert 1', status: 'active', validUntil: '2027-01-01T00:00:00Z' })
  return Buffer.from(`${s.slice(0, -1)},"pad":"${'x'.repeat(1024 - s.length - 9)}"}`)
}
const ONE_K = oneK()

function page(): Buffer {
  const head =
    '<!doctype html><html><head><title>Certificates</title><link rel="stylesheet" href="/css/app.css"><script src="/js/app.js"></script></head><body><table>\n'
  const tail = '</table></body></html>\n'
  const rows: string[] = []
  let size = head.length + tail.length
  for (let i = 1; size < 1024 * 1024; i++) {
    const row = PAGE_ROW(i)
    rows.push(row)
    size += Buffer.byteLength(row)
  }
  return Buffer.from(head + rows.join('') + tail)
}

const CHUNK = Buffer.alloc(64 * 1024, 'zenzefi-bench-')
const K64 = Buffer.alloc(64 * 1024, 'k64-')
const PAGE = page()
let SMALL: Buffer = Buffer.alloc(0)

function send(res: ServerResponse, type: string, body: Buffer) {
  res.writeHead(200, { 'content-type': type, 'content-length': body.length })
  res.end(body)
}

function big(res: ServerResponse, total: number) {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
  let left = total
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length)
      left -= n
      const more = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))
      if (!more) return void res.once('drain', pump)
    }
    res.end()
  }
  res.on('close', () => (left = 0))
  pump()
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  // Request bodies are not used; keep the socket reusable.
  req.resume()
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  switch (path) {
    case '/small':
      return send(res, 'application/json', SMALL)
    case '/1k.json':
      return send(res, 'application/json', ONE_K)
    case '/small.bin':
      // The same bytes as /small, but a type no proxy rewrites (for telling rewriting cost apart).
      return send(res, 'application/octet-stream', SMALL)
    case '/64k':
      return send(res, 'application/octet-stream', K64)
    case '/page':
      return send(res, 'text/html; charset=utf-8', PAGE)
    case '/big': {
      const bytes = Number(new URLSearchParams(url.slice(q + 1)).get('bytes') ?? 0)
      return big(res, Number.isFinite(bytes) && bytes > 0 ? bytes : 0)
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 9 }).end('not found')
  }
})
// Connections accepted so far: a proxy that keeps its upstream connections alive adds none under steady load.
let tlsConnections = 0
server.on(tls ? 'secureConnection' : 'connection', () => tlsConnections++)
process.on('message', (msg: { id: number; kind: string }) => {
  if (msg?.kind === 'stats') process.send!({ id: msg.id, ok: true, result: { tlsConnections } })
})

// Long idle keep-alive (as Zenzefi's Tomcat would): the proxies' pooled sockets survive the pauses between phases.
server.keepAliveTimeout = 120_000
server.headersTimeout = 130_000

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false })
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }))
  ws.on('error', () => {})
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  SMALL = smallJson(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`)
  process.send!({ ready: true, port, smallBytes: SMALL.length, pageBytes: PAGE.length, pageRows: PAGE.toString().split('<tr>').length - 1 })
})

process.on('SIGTERM', () => process.exit(0))
process.on('disconnect', () => process.exit(0))
