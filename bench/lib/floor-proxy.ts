// Child process for bench/proxy.ts: the FLOOR — the least a Node proxy can do. node:http in,
// http(s) out (as the upstream speaks) over one keep-alive agent, status and headers copied as they are, bodies piped
// both ways. No auth, no header rules, no rewriting, no logging. WebSocket upgrades are
// spliced: the upstream's 101 is copied to the client and the two TCP/TLS streams piped
// (no frame parsing). Reports { ready, port } over IPC.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'

const target = new URL(process.env.BENCH_UPSTREAM_URL!)
const secure = target.protocol === 'https:'
const client = secure ? https : http
// The CA as one prebuilt context, as the gateway holds it: a `ca` option costs every request a
// re-read of the PEM into the agent's connection name, which is not a proxy's inherent cost.
const secureContext = secure ? tls.createSecureContext({ ca: readFileSync(process.env.BENCH_CA_FILE!) }) : undefined
const agent = secure ? new https.Agent({ keepAlive: true, secureContext }) : new http.Agent({ keepAlive: true })

const server = http.createServer((req, res) => {
  const up = client.request({ agent, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers)
    upRes.pipe(res)
  })
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end()
    else res.destroy()
  })
  res.on('close', () => {
    if (!res.writableFinished) up.destroy()
  })
  req.pipe(up)
})

server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
  socket.on('error', () => {})
  const up = (secure ? https : http).request({
    agent: false,
    ...(secureContext && { secureContext }),
    hostname: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: req.headers,
  })
  up.on('upgrade', (upRes, upSocket, upHead) => {
    upSocket.on('error', () => socket.destroy())
    socket.on('close', () => upSocket.destroy())
    upSocket.on('close', () => socket.destroy())
    let head101 = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\n`
    for (let i = 0; i < upRes.rawHeaders.length; i += 2) head101 += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`
    socket.write(`${head101}\r\n`)
    if (upHead.length) socket.write(upHead)
    if (head.length) upSocket.write(head)
    upSocket.pipe(socket)
    socket.pipe(upSocket)
  })
  up.on('response', (upRes) => {
    socket.end(`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    upRes.resume()
  })
  up.on('error', () => socket.destroy())
  up.end()
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.send!({ ready: true, port })
})

// A clean exit, so that a `--cpu-prof` run writes its profile.
process.on('SIGTERM', () => process.exit(0))
process.on('disconnect', () => process.exit(0))
