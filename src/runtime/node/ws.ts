// The WebSocket relay on Node: authenticate the upgrade, dial Zenzefi, and only
// when Zenzefi said 101 complete the client's upgrade with the subprotocol it
// chose; then relay frames until either side closes or the token stops being valid.

import type { Agent as HttpAgent, IncomingMessage } from 'node:http'
import type { Agent as HttpsAgent } from 'node:https'
import type { Duplex } from 'node:stream'
import { type WebSocket, WebSocketServer } from 'ws'
import type { Config } from '../../config'
import { type Access, accessFields, proxyModeOf } from '../../gateway/access-log'
import { BAD_GATEWAY, detailReply, forRequest, GATEWAY_TIMEOUT, INVALID_TOKEN, UPGRADE_REFUSED } from '../../gateway/answers'
import type { CloseReason, LiveSessions } from '../../gateway/live-sessions'
import type { ProxyPipeline } from '../../gateway/pipeline'
import { REQUEST_ID_HEADER, type RequestMeta } from '../../gateway/request-id'
import { closeFrame, MESSAGE_TOO_BIG } from '../../gateway/websocket-close'
import type { Logger } from '../../logger'
import { type GatewayMetrics, gatewayMetrics, type WsCloseReason } from '../../metrics/gateway'
import { noopMetrics } from '../../metrics/interface'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { proxyRequest, upstreamErrorOf } from './proxy'
import { handshakeProblem, offeredProtocols, type Refusal, writeRefusal } from './ws-handshake'
import { createPipe } from './ws-pipe'
import { dialUpstream } from './ws-upstream'

export interface WsRelayDeps {
  config: Config
  pipeline: ProxyPipeline
  sessions: LiveSessions
  log: Logger
  agent: HttpAgent | HttpsAgent
  metrics?: GatewayMetrics
}

/** Frames a client sends before its 101 are held up to this; past it its socket isn't read until the upgrade. */
const EARLY_BYTES_LIMIT = 64 * 1024

/** What is safe to put on the wire as a request-target verbatim; anything else goes through `ws`'s URL parsing. */
const PLAIN_TARGET = /^\/[\x21-\x7e]*$/

export function createWsRelay(deps: WsRelayDeps) {
  const { config, pipeline, sessions, log } = deps
  const metrics = deps.metrics ?? gatewayMetrics(noopMetrics)
  const target = new URL(config.zenzefiTargetUrl)
  const wsOrigin = `${target.protocol === 'https:' ? 'wss:' : 'ws:'}//${target.host}`
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000

  // The subprotocol Zenzefi chose for each pending client upgrade ('' = none), and its request id (on the 101 too).
  const chosenProtocol = new WeakMap<IncomingMessage, string>()
  const requestIds = new WeakMap<IncomingMessage, string>()
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    autoPong: false,
    // Messages are assembled whole by `ws`: past this size the socket is closed with 1009.
    maxPayload: config.wsMaxMessageBytes,
    handleProtocols: (_offered, req) => chosenProtocol.get(req) || false,
  })
  server.on('headers', (headers: string[], req: IncomingMessage) => {
    const id = requestIds.get(req)
    if (id !== undefined) headers.push(`${REQUEST_ID_HEADER}: ${id}`)
  })

  /** The client's 101, or null if its socket is gone. Synchronous: no verifyClient, and the handshake was checked up front. */
  const completeUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): WebSocket | null => {
    if (socket.destroyed || !socket.writable) return null
    let upgraded: WebSocket | null = null
    server.handleUpgrade(req, socket, head, (ws) => (upgraded = ws))
    // Paused while early bytes piled up; `ws` reads it from here on.
    if (upgraded && socket.isPaused()) socket.resume()
    return upgraded as WebSocket | null
  }

  return {
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: { path: string; search: string }, meta: RequestMeta): Promise<void> {
      const started = performance.now()
      // Node hands over the socket without an error listener; a reset must not crash the process.
      socket.on('error', () => {})
      const fullPath = PROXY_PREFIX + route.path
      // The one access line for this upgrade (at its refusal, or when the relay ends). Path only: the query string may carry the token.
      const access: Access = { method: req.method ?? 'GET', path: fullPath, status: 0, started, meta, mode: proxyModeOf(req.headers['x-local-url']) }
      const logLine = (status: number, extra?: Record<string, unknown>) => {
        metrics.proxied('websocket', status, access.bytesIn, access.bytesOut)
        log.info('websocket', accessFields({ ...access, status }, extra))
      }
      const refuse = (refusal: Refusal, extra?: Record<string, unknown>) => {
        const stamped = forRequest(refusal, meta.requestId)
        writeRefusal(socket, stamped)
        access.bytesOut = Buffer.byteLength(stamped.body)
        logLine(stamped.status, extra)
      }

      const malformed = handshakeProblem(req)
      if (malformed) return refuse(malformed)
      const protocols = offeredProtocols(req.headers['sec-websocket-protocol'])
      if (protocols === null) return refuse(detailReply(400, 'Invalid Sec-WebSocket-Protocol header'))

      let decided: Awaited<ReturnType<ProxyPipeline['run']>>
      try {
        decided = await pipeline.run(proxyRequest(req, 'websocket', route, meta))
      } catch (err) {
        log.error('websocket upgrade failure', { path: fullPath, request_id: meta.requestId, error: err })
        return refuse(detailReply(500, 'Internal Server Error'))
      }
      if (decided.kind === 'reply') {
        access.grant = decided.grant
        return refuse(decided.reply)
      }
      const { plan, session: meter } = decided
      access.grant = plan.grant
      access.mode = plan.mapper.desktop ? 'desktop' : 'direct'
      if (socket.destroyed) return logLine(499, { error: 'client left before the upgrade' })

      let dial: ReturnType<typeof dialUpstream>
      try {
        dial = dialUpstream({
          url: wsOrigin + plan.target,
          requestTarget: PLAIN_TARGET.test(plan.target) ? plan.target : null,
          protocols,
          headers: plan.headers,
          agent: deps.agent,
          timeoutMs,
          maxPayload: config.wsMaxMessageBytes,
        })
      } catch (err) {
        return refuse(detailReply(400, 'Bad Request'), { error: (err as Error).message })
      }
      const upstream = dial.socket

      let closedBy: CloseReason | null = null
      let client: WebSocket | null = null
      // Frame listeners go on now: Zenzefi's first frame can arrive in the same tick as its 101.
      const pipe = createPipe(upstream, (end) => {
        unregister()
        if (client) {
          metrics.wsOpen.dec()
          const why: WsCloseReason = closedBy ?? (end.code === MESSAGE_TOO_BIG[0] ? 'too_big' : end.by === 'upstream' ? 'upstream' : 'client')
          metrics.wsClosed[why].inc()
        }
        // The client's socket is its own (no keep-alive after a 101): its counters are this relay's bytes, frames and handshake included.
        const counted = socket as Duplex & { bytesRead?: number; bytesWritten?: number }
        access.bytesIn = counted.bytesRead ?? null
        access.bytesOut = counted.bytesWritten ?? null
        untrack?.()
        meter?.add(access.bytesIn, access.bytesOut)
        logLine(101, { closedBy: closedBy ?? end.by, code: end.code })
      })
      const closeRelay = (reason: CloseReason) => {
        closedBy = reason
        if (client) pipe.close(...closeFrame(reason))
        else dial.cancel()
      }
      const unregister = sessions.register(plan.hash, plan.grant.expiresAt, closeRelay, 'websocket')
      // Its device's session holds it too: terminating the session closes it with 1008.
      const untrack = meter?.track(closeRelay, 'websocket')
      // Read the client's socket while Zenzefi answers: an unread socket never reports the
      // client's FIN, so a client that gave up would hold the upstream attempt open. Bytes a
      // client sends this early (it shouldn't) are kept for the upgrade, up to a bound.
      const early: Buffer[] = [head]
      let earlyBytes = head.length
      const onEarlyData = (chunk: Buffer) => {
        early.push(chunk)
        if ((earlyBytes += chunk.length) > EARLY_BYTES_LIMIT) socket.pause()
      }
      const onClientGone = () => dial.cancel()
      socket.on('data', onEarlyData).once('end', onClientGone).once('close', onClientGone)

      const outcome = await dial.outcome
      if (outcome.kind !== 'cancelled' && outcome.kind !== 'failed') {
        access.upstreamMs = performance.now() - started
        metrics.upstreamDuration.observe(access.upstreamMs / 1000)
      }
      if (outcome.kind === 'timeout') metrics.upstreamErrors.timeout.inc()
      else if (outcome.kind === 'failed') metrics.upstreamErrors[upstreamErrorOf(outcome.error as NodeJS.ErrnoException, false)].inc()
      socket.removeListener('data', onEarlyData).removeListener('end', onClientGone).removeListener('close', onClientGone)
      if (outcome.kind !== 'open' || closedBy) {
        unregister()
        untrack?.()
        upstream.terminate()
        switch (outcome.kind) {
          case 'refused': {
            // A status that isn't a refusal (200, a redirect) means Zenzefi didn't speak WebSocket here.
            const status = outcome.status >= 400 && outcome.status <= 599 ? outcome.status : 502
            return refuse(detailReply(status, status === 502 ? BAD_GATEWAY : UPGRADE_REFUSED), { upstreamStatus: outcome.status })
          }
          case 'timeout':
            return refuse(detailReply(504, GATEWAY_TIMEOUT), {
              error: `no handshake answer within ${config.zenzefiTimeoutSeconds} s (ZENZEFI_TIMEOUT_SECONDS)`,
            })
          case 'failed':
            log.error('upstream websocket failed', {
              path: fullPath,
              request_id: meta.requestId,
              code: (outcome.error as NodeJS.ErrnoException).code,
              error: outcome.error.message,
            })
            return refuse(detailReply(502, BAD_GATEWAY))
          default:
            // Revoked or expired while Zenzefi was answering (or we began shutting down), or the client left.
            if (closedBy === 'shutdown') return refuse(detailReply(503, 'Server shutting down'))
            if (closedBy) return refuse(detailReply(401, INVALID_TOKEN))
            socket.destroy()
            return logLine(499, { error: 'client left before the upgrade' })
        }
      }

      chosenProtocol.set(req, outcome.protocol)
      requestIds.set(req, meta.requestId)
      client = completeUpgrade(req, socket, early.length === 1 ? head : Buffer.concat(early))
      if (!client) {
        unregister()
        untrack?.()
        upstream.terminate()
        socket.destroy()
        return logLine(499, { error: 'client left before the upgrade' })
      }
      client.binaryType = 'nodebuffer'
      metrics.wsOpen.inc()
      pipe.attach(client)
    },
  }
}
