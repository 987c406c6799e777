import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { getRequestListener, type HttpBindings } from '@hono/node-server'
import { API_BODY_LIMIT, type App, type AppDeps } from '../../app'
import { accessFields } from '../../gateway/access-log'
import { detailReply, forRequest, INVALID_TARGET, type Reply } from '../../gateway/answers'
import { createClientAddress, forwardedProto } from '../../gateway/client-address'
import { accountHostMatcher, routeOf } from '../../gateway/front-door'
import type { LiveSessions } from '../../gateway/live-sessions'
import { type RequestMeta, requestIdOf } from '../../gateway/request-id'
import { metricsTokenCheck, scraperOf } from './metrics'
import { createNodeProxy } from './proxy'
import { createWsRelay } from './ws'
import { writeRefusal } from './ws-handshake'
import { FORCE_CLOSE_MS } from './ws-pipe'

/** A refused API body is read and dropped up to this much before we answer (so the client can read the answer); past it the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
const DRAIN_LIMIT_MS = 30_000
/** While shutting down, how often keep-alive connections whose last answer is done are closed. */
const IDLE_SWEEP_MS = 200

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
  const { pipeline, sessions, metrics } = built.gateway
  const proxy = createNodeProxy({ config: deps.config, pipeline, sessions, log: deps.log, metrics })
  const relay = createWsRelay({ config: deps.config, pipeline, sessions, log: deps.log, agent: proxy.agent, metrics })
  // /metrics on this (public) port only for a Bearer METRICS_TOKEN; without the token, or with a wrong one,
  // the request goes on like any other path and is a 404: nothing tells a scanner there is anything here.
  const scraper = scraperOf(deps.metrics)
  const metricsAuthorized = deps.config.metricsToken && scraper ? metricsTokenCheck(deps.config.metricsToken) : null
  const isMetricsPath = (url: string | undefined) => url === '/metrics' || (url?.startsWith('/metrics?') ?? false)
  // API bodies reach it read whole (withApiBody), and refused ones are drained by us: its own cleanup gives
  // a sender 500 ms, then resets the connection under it.
  // The app gets the front door's decisions as its env (beside node-server's own incoming/outgoing): see createApp's first middleware.
  const metas = new WeakMap<IncomingMessage, RequestMeta>()
  const hono = getRequestListener((request, env) => built.app.fetch(request, { ...env, ...metas.get((env as HttpBindings).incoming) }), {
    autoCleanupIncoming: false,
  })
  // The account page's origin gets the account app alone: no API route, no Zenzefi (src/account/app.tsx).
  const isAccountHost = accountHostMatcher(built.account ? deps.config.accountUrl : null)
  const account = built.account
  const accountListener = account
    ? getRequestListener((request, env) => account.fetch(request, { ...env, ...metas.get((env as HttpBindings).incoming) }), { autoCleanupIncoming: false })
    : null
  const clientAddress = createClientAddress(deps.config.trustedProxyCidrs)
  /** Who is asking and this request's id, decided once, before routing (src/gateway/client-address.ts, request-id.ts). */
  const metaOf = (req: IncomingMessage): RequestMeta => {
    const xff = req.headers['x-forwarded-for']
    const id = req.headers['x-request-id']
    const xfp = req.headers['x-forwarded-proto']
    const own = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'
    return {
      clientIp: clientAddress(req.socket.remoteAddress, Array.isArray(xff) ? xff.join(',') : xff),
      requestId: requestIdOf(Array.isArray(id) ? id.join(',') : id),
      proto: forwardedProto(clientAddress.trustsPeer(req.socket.remoteAddress), Array.isArray(xfp) ? xfp.join(',') : xfp, own),
    }
  }

  // Answered here, before the app, once the body is drained; the access line the app would write is written here.
  const refuseRequest = (req: IncomingMessage, res: ServerResponse, meta: RequestMeta, started: number, refusal: Reply) =>
    drain(req, (whole) => {
      const reply = forRequest(refusal, meta.requestId)
      if (!whole) res.shouldKeepAlive = false
      sendReply(res, reply)
      if (!whole) res.once('finish', () => req.socket.destroy())
      const path = (req.url ?? '/').split('?')[0]!
      deps.log.info(
        'request',
        accessFields({ method: req.method ?? 'GET', path, status: reply.status, started, meta, mode: 'api', bytesOut: Buffer.byteLength(reply.body) }),
      )
    })

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (metricsAuthorized && scraper && req.method === 'GET' && isMetricsPath(req.url) && metricsAuthorized(req.headers.authorization)) {
      scraper.scrape().then(
        (text) => res.writeHead(200, { 'content-type': scraper.contentType, 'cache-control': 'no-store' }).end(text),
        (err) => {
          deps.log.error('metrics scrape failed', { error: err })
          res.writeHead(500).end()
        },
      )
      return
    }
    const started = performance.now()
    const meta = metaOf(req)
    const route = routeOf(req.method ?? 'GET', req.url ?? '/')
    if (accountListener && isAccountHost(req.headers.host)) {
      if (route.kind === 'invalid') return refuseRequest(req, res, meta, started, detailReply(400, INVALID_TARGET))
      metas.set(req, meta)
      return withApiBody(
        req,
        (refusal) => refuseRequest(req, res, meta, started, refusal),
        () => void accountListener(req, res),
      )
    }
    if (route.kind === 'proxy') {
      proxy.handle(req, res, route, meta).catch((err) => {
        deps.log.error('proxy failure', { request_id: meta.requestId, error: err })
        if (!res.headersSent) sendReply(res, forRequest(detailReply(500, 'Internal Server Error'), meta.requestId))
        else res.destroy()
      })
      return
    }
    const refuse = (refusal: Reply) => refuseRequest(req, res, meta, started, refusal)
    if (route.kind === 'invalid') return refuse(detailReply(400, INVALID_TARGET))
    metas.set(req, meta)
    withApiBody(req, refuse, () => void hono(req, res))
  }
  const server = createServer(handle)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return declineUpgrade(server, req, socket, head)
    const started = performance.now()
    const meta = metaOf(req)
    const route = routeOf(req.method ?? 'GET', req.url ?? '/')
    // No WebSocket of Zenzefi's on the account page's origin either.
    if (route.kind !== 'proxy' || isAccountHost(req.headers.host)) {
      socket.on('error', () => {})
      const reply = forRequest(route.kind === 'invalid' ? detailReply(400, INVALID_TARGET) : detailReply(404, 'Not Found'), meta.requestId)
      writeRefusal(socket, reply)
      const path = (req.url ?? '/').split('?')[0]!
      deps.log.info(
        'websocket',
        accessFields({ method: req.method ?? 'GET', path, status: reply.status, started, meta, mode: 'api', bytesOut: Buffer.byteLength(reply.body) }),
      )
      return
    }
    relay.handleUpgrade(req, socket, head, route, meta).catch((err) => {
      deps.log.error('websocket upgrade failure', { request_id: meta.requestId, error: err })
      socket.destroy()
    })
  })
  server.on('close', () => {
    sessions.stop()
    proxy.close()
  })
  // Every socket, upgraded ones too (node:http forgets those), so that shutdown can end what is left at its deadline.
  const sockets = new Set<Duplex>()
  server.on('connection', (socket: Duplex) => {
    if (sockets.has(socket)) return
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  let stopping: Array<() => void> | null = null
  return Object.assign(server, {
    sessions,
    /**
     * Graceful shutdown (SIGTERM), timed by SHUTDOWN_DRAIN_SECONDS and SHUTDOWN_TIMEOUT_SECONDS:
     * - at once: /health/ready answers 503 draining; new connections are still accepted through the drain;
     * - after the drain: stop listening (new connections are refused), close idle keep-alive connections and each
     *   one as it turns idle (answers begun from now on say `Connection: close`), end relayed WebSockets with 1001;
     * - in-flight requests and downloads go on; SHUTDOWN_TIMEOUT_SECONDS after the drain whatever is left is cut.
     * `done` runs once every connection is gone. Calling it again only adds its `done`.
     */
    shutdown(done: () => void) {
      if (stopping) return void stopping.push(done)
      const waiting = (stopping = [done])
      built.services.health.startDraining()
      const { shutdownDrainSeconds, shutdownTimeoutSeconds } = deps.config
      let idleSweep: ReturnType<typeof setInterval> | undefined
      let deadline: ReturnType<typeof setTimeout> | undefined
      const stopAccepting = () => {
        server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
          res.shouldKeepAlive = false
        })
        server.close(() => {
          clearInterval(idleSweep)
          clearTimeout(deadline)
          for (const callback of waiting) callback()
        })
        server.closeIdleConnections()
        idleSweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS).unref()
        sessions.closeAll('shutdown', 'websocket')
        deps.log.info('shutdown: no longer accepting connections', { open: sockets.size, timeout_seconds: shutdownTimeoutSeconds })
        deadline = setTimeout(() => {
          deps.log.warn('shutdown: SHUTDOWN_TIMEOUT_SECONDS passed, cutting what is still open', { open: sockets.size })
          sessions.closeAll('shutdown')
          server.closeAllConnections()
          // A WebSocket peer gets FORCE_CLOSE_MS to answer its close frame; anything left after that is cut.
          setTimeout(() => {
            for (const socket of sockets) socket.destroy()
          }, FORCE_CLOSE_MS + 100).unref()
        }, shutdownTimeoutSeconds * 1000)
      }
      if (shutdownDrainSeconds > 0) setTimeout(stopAccepting, shutdownDrainSeconds * 1000)
      else stopAccepting()
    },
  })
}
