import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { getRequestListener } from '@hono/node-server'
import { API_BODY_LIMIT, type App, type AppDeps } from '../../app'
import { detailReply, INVALID_TARGET, type Reply } from '../../gateway/answers'
import { routeOf } from '../../gateway/front-door'
import type { LiveSessions } from '../../gateway/live-sessions'
import { createNodeProxy } from './proxy'
import { createWsRelay } from './ws'
import { writeRefusal } from './ws-handshake'

/** A refused API body is read and dropped up to this much before we answer (so the client can read the answer); past it the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
const DRAIN_LIMIT_MS = 30_000

/**
 * Reads and drops what is left of a request body, then calls `done`. We answer a
 * refused body only once it has been read: closing (or answering a client that asked
 * for `Connection: close`) while it is still sending resets the connection under it,
 * and it never sees the answer. `done(false)`: the body was too large or too slow to
 * wait for, and the connection is to be cut once the answer is out.
 */
function drain(req: IncomingMessage, done: (whole: boolean) => void) {
  if (req.readableEnded || req.destroyed) return done(!req.destroyed)
  let bytes = 0
  let settled = false
  const settle = (whole: boolean) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    done(whole)
  }
  const timer = setTimeout(() => settle(false), DRAIN_LIMIT_MS).unref()
  req.on('data', (chunk: Buffer) => {
    if ((bytes += chunk.length) > DRAIN_LIMIT_BYTES) settle(false)
  })
  req.once('end', () => settle(true))
  req.once('close', () => settle(false))
  req.resume()
}

/**
 * An API request's body, read whole before the app sees it (API bodies are small):
 * handed over as `rawBody`, which @hono/node-server takes as the body. A body over
 * the limit is refused with 413, by Content-Length or as it streams in.
 */
function withApiBody(req: IncomingMessage, refuse: (reply: Reply) => void, next: () => void) {
  const method = req.method ?? 'GET'
  if (method === 'GET' || method === 'HEAD' || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) return next()
  const tooLarge = () => refuse(detailReply(413, 'Request body too large'))
  if (Number(req.headers['content-length'] ?? 0) > API_BODY_LIMIT) return tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size <= API_BODY_LIMIT) return void chunks.push(chunk)
    req.off('data', onData).off('end', onEnd)
    tooLarge()
  }
  const onEnd = () => {
    ;(req as IncomingMessage & { rawBody?: Buffer }).rawBody = Buffer.concat(chunks, size)
    next()
  }
  req.on('data', onData).once('end', onEnd)
}

function sendReply(res: ServerResponse, reply: Reply) {
  res.writeHead(reply.status, [...reply.headers, 'Content-Length', String(Buffer.byteLength(reply.body))]).end(reply.body)
}

/**
 * An `Upgrade: h2c` request (what `curl --http2` sends over plain HTTP) is also a plain
 * HTTP/1.1 request: we decline the upgrade by handing the connection back to the HTTP
 * parser with the request's head minus its upgrade headers, so its body is read as a body.
 */
function declineUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer) {
  // Headers the client named in Connection are hop-by-hop for the upgrade; framing (Content-Length) stays.
  const listed = new Set(
    (req.headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  )
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (name === 'upgrade' || name === 'http2-settings' || (listed.has(name) && name !== 'content-length')) continue
    if (name === 'connection') continue
    text += `${raw[i]}: ${raw[i + 1]}\r\n`
  }
  // One request on this connection, then it closes: a client that asked for h2c starts afresh.
  socket.unshift(Buffer.concat([Buffer.from(`${text}Connection: close\r\n\r\n`, 'latin1'), head]))
  server.emit('connection', socket)
}

/**
 * The Node HTTP server. One front door for every request: proxied traffic takes
 * the lean node:http path through the shared pipeline; the JSON API goes through
 * the Hono app (Request/Response conversion is fine there).
 */
export function createNodeServer(deps: AppDeps, built: App): Server & { sessions: LiveSessions; shutdown(done: () => void): void } {
  const { pipeline, sessions } = built.gateway
  const proxy = createNodeProxy({ config: deps.config, pipeline, sessions, log: deps.log })
  const relay = createWsRelay({ config: deps.config, pipeline, sessions, log: deps.log, agent: proxy.agent })
  // API bodies reach it read whole (withApiBody), and refused ones are drained by us: its own cleanup gives
  // a sender 500 ms, then resets the connection under it.
  const hono = getRequestListener(built.app.fetch, { autoCleanupIncoming: false })

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const route = routeOf(req.method ?? 'GET', req.url ?? '/')
    if (route.kind === 'proxy') {
      proxy.handle(req, res, route).catch((err) => {
        deps.log.error('proxy failure', { error: err })
        if (!res.headersSent) sendReply(res, detailReply(500, 'Internal Server Error'))
        else res.destroy()
      })
      return
    }
    // Answered here, before the app, once the body is drained; the access line the app would write is written here.
    const refuse = (reply: Reply) =>
      drain(req, (whole) => {
        if (!whole) res.shouldKeepAlive = false
        sendReply(res, reply)
        if (!whole) res.once('finish', () => req.socket.destroy())
        deps.log.info('request', { method: req.method, path: (req.url ?? '/').split('?')[0], status: reply.status })
      })
    if (route.kind === 'invalid') return refuse(detailReply(400, INVALID_TARGET))
    withApiBody(req, refuse, () => void hono(req, res))
  }
  const server = createServer(handle)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return declineUpgrade(server, req, socket, head)
    const route = routeOf(req.method ?? 'GET', req.url ?? '/')
    if (route.kind !== 'proxy') {
      socket.on('error', () => {})
      return writeRefusal(socket, route.kind === 'invalid' ? detailReply(400, INVALID_TARGET) : detailReply(404, 'Not Found'))
    }
    relay.handleUpgrade(req, socket, head, route).catch((err) => {
      deps.log.error('websocket upgrade failure', { error: err })
      socket.destroy()
    })
  })
  server.on('close', () => {
    sessions.stop()
    proxy.agent.destroy()
  })
  return Object.assign(server, {
    sessions,
    /** Stop accepting, end open WebSockets (1001) and streams, let in-flight requests finish. */
    shutdown(done: () => void) {
      server.close(done)
      sessions.closeAll('shutdown')
      server.closeIdleConnections()
    },
  })
}
