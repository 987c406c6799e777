// The WebSocket relay on Node: authenticate the upgrade, dial Zenzefi, and only
// when Zenzefi said 101 complete the client's upgrade with the subprotocol it
// chose; then relay frames until either side closes or the token stops being valid.

import type { Agent as HttpAgent, IncomingMessage } from 'node:http'
import type { Agent as HttpsAgent } from 'node:https'
import type { Duplex } from 'node:stream'
import { type WebSocket, WebSocketServer } from 'ws'
import type { Config } from '../../config'
import { upstreamRequestHeaders } from '../../gateway/headers'
import type { CloseReason, LiveSessions } from '../../gateway/live-sessions'
import { AUTH_REQUIRED, BAD_GATEWAY, GATEWAY_TIMEOUT, INVALID_TOKEN, type ProxyPlanner, withoutTokenParam } from '../../gateway/proxy-plan'
import { closeFrame, ORIGIN_NOT_ALLOWED, originPolicy, upgradeToken } from '../../gateway/ws-auth'
import type { Logger } from '../../logger'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import type { TokenService } from '../../services/tokens'
import { pairsOf, upstreamContext } from './proxy'
import { handshakeProblem, offeredProtocols, type Refusal, writeRefusal } from './ws-handshake'
import { createPipe } from './ws-pipe'
import { dialUpstream } from './ws-upstream'

export interface WsRelayDeps {
  config: Config
  planner: ProxyPlanner
  tokens: TokenService
  sessions: LiveSessions
  log: Logger
  agent: HttpAgent | HttpsAgent
  isOwnCredential: (authorization: string) => boolean
}

/** Frames a client sends before its 101 are held up to this; past it its socket isn't read until the upgrade. */
const EARLY_BYTES_LIMIT = 64 * 1024

/** `ws` writes these itself on the upstream handshake (and we offer no extensions); a client copy would clash. */
const isHandshakeHeader = (name: string) => name.toLowerCase().replace(/_/g, '-').startsWith('sec-websocket-')

/** What is safe to put on the wire as a request-target verbatim; anything else goes through `ws`'s URL parsing. */
const PLAIN_TARGET = /^\/[\x21-\x7e]*$/

export function createWsRelay(deps: WsRelayDeps) {
  const { config, tokens, sessions, log } = deps
  const target = new URL(config.zenzefiTargetUrl)
  const wsOrigin = `${target.protocol === 'https:' ? 'wss:' : 'ws:'}//${target.host}`
  const basePath = target.pathname.replace(/\/+$/, '')
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000
  const originAllowed = originPolicy(config)

  // The subprotocol Zenzefi chose for each pending client upgrade ('' = none).
  const chosenProtocol = new WeakMap<IncomingMessage, string>()
  const server = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    autoPong: false,
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
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
      const started = performance.now()
      // Node hands over the socket without an error listener; a reset must not crash the process.
      socket.on('error', () => {})
      const rawUrl = req.url ?? '/'
      const q = rawUrl.indexOf('?')
      const fullPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
      const search = q === -1 ? '' : rawUrl.slice(q)
      // Path only: the query string may carry the token.
      const logLine = (status: number, extra?: Record<string, unknown>) =>
        log.info('websocket', { path: fullPath, status, ms: Math.round(performance.now() - started), ...extra })
      const refuse = (refusal: Refusal, extra?: Record<string, unknown>) => {
        writeRefusal(socket, refusal)
        logLine(refusal.status, extra)
      }

      if (!fullPath.startsWith(`${PROXY_PREFIX}/`)) return refuse({ status: 404, detail: 'Not Found' })
      const malformed = handshakeProblem(req)
      if (malformed) return refuse(malformed)
      const protocols = offeredProtocols(req.headers['sec-websocket-protocol'])
      if (protocols === null) return refuse({ status: 400, detail: 'Invalid Sec-WebSocket-Protocol header' })

      const presented = upgradeToken(search, (name) => req.headers[name] as string | undefined)
      if (!presented) return refuse({ status: 401, detail: AUTH_REQUIRED })
      // Checked before the token is looked at: a hijacking page must not even start the token's clock.
      if (presented.source === 'cookie' && !originAllowed(req.headers.origin)) return refuse({ status: 403, detail: ORIGIN_NOT_ALLOWED })
      let auth: Awaited<ReturnType<TokenService['authorize']>>
      try {
        auth = await tokens.authorize(presented.token)
      } catch (err) {
        log.error('websocket upgrade failure', { path: fullPath, error: err })
        return refuse({ status: 500, detail: 'Internal Server Error' })
      }
      if (!auth) return refuse({ status: 401, detail: INVALID_TOKEN })
      if (socket.destroyed) return logLine(499, { error: 'client left before the upgrade' })

      const path = fullPath.slice(PROXY_PREFIX.length)
      const requestTarget = basePath + path + withoutTokenParam(search)
      const headers = upstreamRequestHeaders(
        pairsOf(req.rawHeaders).filter(([name]) => !isHandshakeHeader(name)),
        upstreamContext(req, target, auth.grant, deps.isOwnCredential),
      )

      let dial: ReturnType<typeof dialUpstream>
      try {
        dial = dialUpstream({
          url: wsOrigin + requestTarget,
          requestTarget: PLAIN_TARGET.test(requestTarget) ? requestTarget : null,
          protocols,
          headers,
          agent: deps.agent,
          timeoutMs,
        })
      } catch (err) {
        return refuse({ status: 400, detail: 'Bad Request' }, { error: (err as Error).message })
      }
      const upstream = dial.socket

      let closedBy: CloseReason | null = null
      let client: WebSocket | null = null
      // Frame listeners go on now: Zenzefi's first frame can arrive in the same tick as its 101.
      const pipe = createPipe(upstream, (end) => {
        unregister()
        logLine(101, { closedBy: closedBy ?? end.by, code: end.code })
      })
      const unregister = sessions.register(auth.hash, auth.grant.expiresAt, (reason) => {
        closedBy = reason
        if (client) pipe.close(...closeFrame(reason))
        else dial.cancel()
      })
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
            return refuse({ status, detail: status === 502 ? BAD_GATEWAY : 'Zenzefi refused the WebSocket upgrade' }, { upstreamStatus: outcome.status })
          }
          case 'timeout':
            return refuse(
              { status: 504, detail: GATEWAY_TIMEOUT },
              { error: `no handshake answer within ${config.zenzefiTimeoutSeconds} s (ZENZEFI_TIMEOUT_SECONDS)` },
            )
          case 'failed':
            log.error('upstream websocket failed', { path: fullPath, code: (outcome.error as NodeJS.ErrnoException).code, error: outcome.error.message })
            return refuse({ status: 502, detail: BAD_GATEWAY })
          default:
            // Revoked or expired while Zenzefi was answering, or the client left.
            if (closedBy) return refuse({ status: 401, detail: INVALID_TOKEN })
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
