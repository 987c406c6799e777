// The WebSocket relay on Node: authenticate the upgrade, dial Zenzefi, and only
// when Zenzefi said 101 answer the client's upgrade with the subprotocol it chose;
// then splice the two sockets (ws-splice.ts) until both have closed, or the gateway
// closes the relay because the token stopped being valid.

import type { Agent as HttpAgent, IncomingMessage } from 'node:http'
import type { Agent as HttpsAgent } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Config } from '../../config'
import { type Access, accessFields, proxyModeOf } from '../../gateway/access-log'
import { BAD_GATEWAY, detailReply, forRequest, GATEWAY_TIMEOUT, INVALID_TOKEN, UPGRADE_REFUSED } from '../../gateway/answers'
import type { CloseReason, LiveSessions } from '../../gateway/live-sessions'
import type { ProxyPipeline } from '../../gateway/pipeline'
import type { RequestMeta } from '../../gateway/request-id'
import { closeFrame, MESSAGE_TOO_BIG } from '../../gateway/websocket-close'
import type { Logger } from '../../logger'
import { type GatewayMetrics, gatewayMetrics, type WsCloseReason } from '../../metrics/gateway'
import { noopMetrics } from '../../metrics/interface'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { proxyRequest, upstreamErrorOf } from './proxy'
import { handshakeProblem, offeredProtocols, type Refusal, writeRefusal, writeSwitching } from './ws-handshake'
import { type Splice, splice } from './ws-splice'
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

/** What is safe to put on the wire as a request-target verbatim; anything else is sent as the WHATWG URL parser normalises it. */
const PLAIN_TARGET = /^\/[\x21-\x7e]*$/

/** The request-target for Zenzefi: the plan's own when plain, else its normalised form; null when it can't be one (no URL, a fragment). */
function requestTarget(origin: URL, target: string): string | null {
  let url: URL
  try {
    url = new URL(`${origin.protocol}//${origin.host}${target}`)
  } catch {
    return null
  }
  if (url.hash) return null
  return PLAIN_TARGET.test(target) ? target : url.pathname + url.search
}

export function createWsRelay(deps: WsRelayDeps) {
  const { config, pipeline, sessions, log } = deps
  const metrics = deps.metrics ?? gatewayMetrics(noopMetrics)
  const target = new URL(config.zenzefiTargetUrl)
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000

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

      const key = req.headers['sec-websocket-key']!
      const path = requestTarget(target, plan.target)
      let dial: ReturnType<typeof dialUpstream>
      try {
        if (path === null) throw new Error('request-target is not a URL path')
        dial = dialUpstream({
          target,
          path,
          protocols,
          headers: plan.headers,
          key,
          version: req.headers['sec-websocket-version']!,
          agent: deps.agent,
          timeoutMs,
        })
      } catch (err) {
        return refuse(detailReply(400, 'Bad Request'), { error: (err as Error).message })
      }

      let closedBy: CloseReason | null = null
      let relay: Splice | null = null
      const closeRelay = (reason: CloseReason) => {
        closedBy ??= reason
        if (relay) relay.close(...closeFrame(reason))
        else dial.cancel()
      }
      const unregister = sessions.register(plan.hash, plan.grant.expiresAt, closeRelay, 'websocket')
      // Its device's session holds it too: terminating the session closes it with 1008.
      const untrack = meter?.track(closeRelay, 'websocket')
      // Read the client's socket while Zenzefi answers: an unread socket never reports the
      // client's FIN, so a client that gave up would hold the upstream attempt open. Bytes a
      // client sends this early (it shouldn't) are kept for the splice, up to a bound.
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
      const clientGone = socket.destroyed || !socket.writable
      if (outcome.kind !== 'open' || closedBy || clientGone) {
        unregister()
        untrack?.()
        if (outcome.kind === 'open') outcome.socket.destroy()
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

      writeSwitching(socket, key, outcome.protocol, meta.requestId)
      metrics.wsOpen.inc()
      relay = splice(
        socket as Socket,
        outcome.socket,
        { maxMessageBytes: config.wsMaxMessageBytes, clientFirst: early, upstreamFirst: outcome.head },
        (end) => {
          unregister()
          metrics.wsOpen.dec()
          const why: WsCloseReason = closedBy ?? (end.code === MESSAGE_TOO_BIG[0] ? 'too_big' : end.by === 'upstream' ? 'upstream' : 'client')
          metrics.wsClosed[why].inc()
          // The client's socket is its own (no keep-alive after a 101): its counters are this relay's bytes, frames and handshake included.
          access.bytesIn = (socket as Socket).bytesRead
          access.bytesOut = (socket as Socket).bytesWritten
          untrack?.()
          meter?.add(access.bytesIn, access.bytesOut)
          logLine(101, { closedBy: closedBy ?? end.by, code: end.code })
        },
      )
    },
  }
}
