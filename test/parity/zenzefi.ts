// Helpers for the parity suite's edge cases: a Zenzefi stand-in that records
// every request with its body, a TCP server that accepts and never answers, and
// clients that speak HTTP/1.1 byte for byte (node:net) or as curl would (node:http).

import { createHash } from 'node:crypto'
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net'

export interface Seen {
  method: string
  /** The request-target exactly as it arrived. */
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
}

/**
 * A plain-HTTP Zenzefi stand-in (paths as it receives them, i.e. with ZENZEFI_TARGET_URL's path):
 *
 *   OPTIONS anything   200 "zenzefi options" with Allow and X-Zenzefi-Options
 *   POST …/upload      201 {"bytes", "sha256"} of the body it read
 *   GET …/page         an HTML page that names its own origin in links, a script and Content-Location
 *   GET …/cc/public    Cache-Control: public, max-age=600
 *   GET …/cc/none      no Cache-Control
 *   GET …/sw/allowed   Service-Worker-Allowed: / (which must never reach the client)
 *   anything else      200 "ok"
 */
export async function startZenzefi() {
  const received: Seen[] = []
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      const path = req.url!.split('?')[0]!
      if (req.method === 'OPTIONS') {
        res.writeHead(200, { 'content-type': 'text/plain', allow: 'GET, HEAD, POST, OPTIONS', 'x-zenzefi-options': '1' }).end('zenzefi options')
        return
      }
      if (path.endsWith('/upload')) {
        const sha256 = createHash('sha256').update(body).digest('hex')
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes: body.length, sha256 }))
        return
      }
      if (path.endsWith('/page')) {
        const o = origin
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-location': `${o}/zz/page` })
        res.end(
          '<!doctype html><html><head><title>Zenzefi</title>' +
            `<link rel="stylesheet" href="${o}/zz/css/app.css"><script src="${o}/zz/js/app.js"></script>` +
            `<script>var api = "${o}/zz/api/v1"; var live = "ws://${host}/zz/ws";</script></head>` +
            `<body><a id="abs" href="${o}/zz/admin">admin</a><a id="upper" href="HTTP://${host.toUpperCase()}/zz/x">x</a>` +
            '<a id="rel" href="/zz/certificates">list</a><img src="/zz/logo.png"></body></html>',
        )
        return
      }
      if (path.endsWith('/cc/public')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=600' }).end('cacheable')
        return
      }
      if (path.endsWith('/sw/allowed')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'service-worker-allowed': '/' }).end('sw allowed')
        return
      }
      if (path.endsWith('/cc/none')) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('no cache-control')
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  server.on('clientError', (_err, socket) => socket.destroy())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const host = `127.0.0.1:${port}`
  const origin = `http://${host}`
  let closed = false
  return {
    url: origin,
    port,
    host,
    received,
    /** Requests whose target starts with `prefix`. */
    to: (prefix: string) => received.filter((r) => r.url.startsWith(prefix)),
    async close() {
      if (closed) return
      closed = true
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

export type Zenzefi = Awaited<ReturnType<typeof startZenzefi>>

/** Accepts TCP connections, reads what comes and never answers. */
export async function startSilentServer() {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createTcpServer((s) => {
    accepted++
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.resume()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** Everything the server sent, as text. */
  raw: string
}

/** Parses one HTTP/1.1 response (Content-Length, chunked or read-to-close). */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) throw new Error(`no complete response head: ${JSON.stringify(raw.slice(0, 200))}`)
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`)
  const headers: Record<string, string> = {}
  for (const l of lines) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  let rest = raw.slice(end + 4)
  let body = rest
  if (headers['content-length'] !== undefined) body = rest.slice(0, Number(headers['content-length']))
  else if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
    body = ''
    for (;;) {
      const nl = rest.indexOf('\r\n')
      if (nl === -1) break
      const size = Number.parseInt(rest.slice(0, nl), 16)
      if (!size) break
      body += rest.slice(nl + 2, nl + 2 + size)
      rest = rest.slice(nl + 2 + size + 2)
    }
  }
  return { status: Number(m[1]), headers, body, raw }
}

/** Whether `raw` holds one whole response (to a HEAD request when `head`). */
function complete(raw: string, head: boolean): boolean {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) return false
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1])
  if (head || (status >= 100 && status < 200) || status === 204 || status === 304) return true
  const headText = raw.slice(0, end).toLowerCase()
  const body = raw.slice(end + 4)
  const length = /\r\ncontent-length:\s*(\d+)/.exec(headText)?.[1]
  if (length !== undefined) return Buffer.byteLength(body, 'latin1') >= Number(length)
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(headText)) return body.startsWith('0\r\n\r\n') || body.includes('\r\n0\r\n\r\n')
  return false // read to close
}

/**
 * Sends `bytes` exactly as given over one TCP connection (no normalisation, no framing
 * added) and reads one response: until it is complete, the server closes, or `timeoutMs` passes.
 */
export function rawExchange(baseUrl: string, bytes: string | Buffer, timeoutMs = 5_000): Promise<string> {
  const { hostname, port } = new URL(baseUrl)
  const head = bytes.slice(0, 5).toString() === 'HEAD '
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    const got = () => Buffer.concat(chunks).toString('latin1')
    let settled = false
    const finish = (err?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const text = got()
      text || !err ? resolve(text) : reject(err)
    }
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    socket.on('connect', () => socket.write(bytes))
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      if (complete(got(), head)) finish()
    })
    socket.on('end', () => finish())
    socket.on('close', () => finish())
    socket.on('error', (err) => finish(err))
  })
}

/** One request over node:http (as curl sends it: headers, then the whole body); rejects on any socket error. */
export function curlLike(
  url: string,
  opts: { method: string; headers: Record<string, string>; body?: Buffer; timeoutMs?: number },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy()
      reject(new Error(`no complete answer within ${opts.timeoutMs ?? 5_000} ms`))
    }, opts.timeoutMs ?? 5_000)
    let answered = ''
    const fail = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const what = err.code ?? err.message
      reject(Object.assign(new Error(answered ? `${what} right after reading the answer (${answered})` : `${what} instead of an answer`), { code: err.code }))
    }
    const req = httpRequest(url, { method: opts.method, headers: opts.headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('error', fail)
      res.on('end', () => {
        answered = `${res.statusCode} ${body.slice(0, 80)}`
        // A reset right behind the answer still shows up as an error on the request: give it a moment.
        setTimeout(() => {
          clearTimeout(timer)
          resolve({ status: res.statusCode!, headers: res.headers, body })
        }, 100)
      })
    })
    req.on('error', fail)
    req.end(opts.body)
  })
}

/** Resolves when `check` is true, or rejects after `ms`. */
export async function eventually(check: () => boolean, ms: number, what: string) {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
