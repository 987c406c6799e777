// The WebSocket relay on Node: authenticate the upgrade, dial Zenzefi, and only
// when Zenzefi said 101 complete the client's upgrade with the subprotocol it
// chose; then relay frames until either side closes or the token stops being valid.

import type { Agent as HttpAgent, IncomingMessage } from 'node:http'
import type { Agent as HttpsAgent } from 'node:https'
import type { Duplex } from 'node:stream'
import { type WebSocket, WebSocketServer } from 'ws'
import type { Config } from '../../config'
import { BAD_GATEWAY, detailReply, GATEWAY_TIMEOUT, INVALID_TOKEN, UPGRADE_REFUSED } from '../../gateway/answers'
import type { CloseReason, LiveSessions } from '../../gateway/live-sessions'
import type { ProxyPipeline } from '../../gateway/pipeline'
import { closeFrame } from '../../gateway/websocket-close'
import type { Logger } from '../../logger'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { proxyRequest } from './proxy'
import { handshakeProblem, offeredProtocols, type Refusal, writeRefusal } from './ws-handshake'
import { createPipe } from './ws-pipe'
import { dialUpstream } from './ws-upstream'

export interface WsRelayDeps {
  config: Config
  pipeline: ProxyPipeline
  sessions: LiveSessions
  log: Logger
  agent: HttpAgent | HttpsAgent
}

/** Frames a client sends before its 101 are held up to this; past it its socket isn't read until the upgrade. */
const EARLY_BYTES_LIMIT = 64 * 1024

/** What is safe to put on the wire as a request-target verbatim; anything else goes through `ws`'s URL parsing. */
const PLAIN_TARGET = /^\/[\x21-\x7e]*$/

export function createWsRelay(deps: WsRelayDeps) {
  const { config, pipeline, sessions, log } = deps
  const target = new URL(config.zenzefiTargetUrl)
  const wsOrigin = `${target.protocol === 'https:' ? 'wss:' : 'ws:'}//${target.host}`
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000

  // The subprotocol Zenzefi chose for each pending client upgrade ('' = none).
  const chosenProtocol = new WeakMap<IncomingMessage, string>()
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    autoPong: false,
    // Messages are assembled whole by `ws`: past this size the socket is closed with 1009.
    maxPayload: config.wsMaxMessageBytes,
    handleProtocols: (_offered, req) => chosenProtocol.get(req) || false,
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
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: { path: string; search: string }): Promise<void> {
      const started = performance.now()
      // Node hands over the socket without an error listener; a reset must not crash the process.
      socket.on('error', () => {})
      const fullPath = PROXY_PREFIX + route.path
      // Path only: the query string may carry the token.
      const logLine = (status: number, extra?: Record<string, unknown>) =>
        log.info('websocket', { path: fullPath, status, ms: Math.round(performance.now() - started), ...extra })
      const refuse = (refusal: Refusal, extra?: Record<string, unknown>) => {
        writeRefusal(socket, refusal)
        logLine(refusal.status, extra)
      }

      const malformed = handshakeProblem(req)
      if (malformed) return refuse(malformed)
      const protocols = offeredProtocols(req.headers['sec-websocket-protocol'])
      if (protocols === null) return refuse(detailReply(400, 'Invalid Sec-WebSocket-Protocol header'))

      let decided: Awaited<ReturnType<ProxyPipeline['run']>>
      try {
        decided = await pipeline.run(proxyRequest(req, 'websocket', route))
      } catch (err) {
        log.error('websocket upgrade failure', { path: fullPath, error: err })
        return refuse(detailReply(500, 'Internal Server Error'))
      }
      if (decided.kind === 'reply') return refuse(decided.reply)
      const { plan } = decided
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
        logLine(101, { closedBy: closedBy ?? end.by, code: end.code })
      })
      const unregister = sessions.register(
        plan.hash,
        plan.grant.expiresAt,
        (reason) => {
          closedBy = reason
          if (client) pipe.close(...closeFrame(reason))
          else dial.cancel()
        },
        'websocket',
      )
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
      socket.removeListener('data', onEarlyData).removeListener('end', onClientGone).removeListener('close', onClientGone)
      if (outcome.kind !== 'open' || closedBy) {
        unregister()
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
            log.error('upstream websocket failed', { path: fullPath, code: (outcome.error as NodeJS.ErrnoException).code, error: outcome.error.message })
            return refuse(detailReply(502, BAD_GATEWAY))
          default:
            // Revoked or expired while Zenzefi was answering, or the client left.
            if (closedBy) return refuse(detailReply(401, INVALID_TOKEN))
            socket.destroy()
            return logLine(499, { error: 'client left before the upgrade' })
        }
      }

      chosenProtocol.set(req, outcome.protocol)
      client = completeUpgrade(req, socket, early.length === 1 ? head : Buffer.concat(early))
      if (!client) {
        unregister()
        upstream.terminate()
        socket.destroy()
        return logLine(499, { error: 'client left before the upgrade' })
      }
      client.binaryType = 'nodebuffer'
      pipe.attach(client)
    },
  }
}
