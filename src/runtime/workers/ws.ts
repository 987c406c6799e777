// The WebSocket relay on Workers: authenticate, dial Zenzefi with fetch + Upgrade,
// and only then hand the client its end of a WebSocketPair. Same rules as Node.

import type { Config } from '../../config'
import { type HeaderPair, upstreamRequestHeaders } from '../../gateway/headers'
import type { LiveSessions } from '../../gateway/live-sessions'
import { detailResponse as json } from '../../gateway/proxy-fetch'
import { AUTH_REQUIRED, BAD_GATEWAY, GATEWAY_TIMEOUT, INVALID_TOKEN, withoutTokenParam } from '../../gateway/proxy-plan'
import { closeFrame, ORIGIN_NOT_ALLOWED, originPolicy, sendableCloseCode, upgradeToken } from '../../gateway/ws-auth'
import type { Logger } from '../../logger'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import type { TokenService } from '../../services/tokens'

interface CfWebSocket extends WebSocket {
  accept(): void
}
declare const WebSocketPair: { new (): { 0: CfWebSocket; 1: CfWebSocket } }

export function createWorkerWsRelay(deps: {
  config: Config
  tokens: TokenService
  sessions: LiveSessions
  log: Logger
  fetchUpstream: (request: Request) => Promise<Response>
  /** True for an Authorization header that is our own JWT (never forwarded). */
  isOwnCredential?: (authorization: string) => boolean | Promise<boolean>
}) {
  const { config, tokens, sessions, log } = deps
  const target = new URL(config.zenzefiTargetUrl)
  const basePath = target.pathname.replace(/\/+$/, '')
  const originAllowed = originPolicy(config)

  return async function relay(request: Request, clientIp: string): Promise<Response> {
    const url = new URL(request.url)
    if (!url.pathname.startsWith(`${PROXY_PREFIX}/`)) return json(404, 'Not Found')
    const presented = upgradeToken(url.search, (n) => request.headers.get(n))
    if (!presented) return json(401, AUTH_REQUIRED)
    if (presented.source === 'cookie' && !originAllowed(request.headers.get('origin'))) return json(403, ORIGIN_NOT_ALLOWED)
    const auth = await tokens.authorize(presented.token)
    if (!auth) return json(401, INVALID_TOKEN)

    const authorization = request.headers.get('authorization')
    const ownCredential = authorization !== null && deps.isOwnCredential ? await deps.isOwnCredential(authorization) : false
    const headers = upstreamRequestHeaders(
      ([...request.headers] as HeaderPair[]).filter(([n]) => !n.toLowerCase().startsWith('sec-websocket-') || n.toLowerCase() === 'sec-websocket-protocol'),
      {
        upstreamHost: target.host,
        clientIp,
        proto: url.protocol === 'https:' ? 'https' : 'http',
        clientHost: request.headers.get('host'),
        userId: auth.grant.userId,
        tokenId: auth.grant.tokenId,
        isOwnCredential: () => ownCredential,
      },
    )
    headers.upgrade = 'websocket'
    const upstreamUrl = `${target.origin}${basePath}${url.pathname.slice(PROXY_PREFIX.length)}${withoutTokenParam(url.search)}`
    // The timeout covers the handshake only. (An AbortSignal.timeout() on the request stays
    // bound to the upgraded socket: workerd then cut every relayed WebSocket after
    // ZENZEFI_TIMEOUT_SECONDS.) So: a timer of our own, disarmed once Zenzefi answers.
    const handshake = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      handshake.abort(new Error('handshake timeout'))
    }, config.zenzefiTimeoutSeconds * 1000)
    let res: Response
    try {
      res = await deps.fetchUpstream(new Request(upstreamUrl, { headers, signal: handshake.signal }))
    } catch (err) {
      log.error('upstream websocket failed', { path: url.pathname, status: timedOut ? 504 : 502, error: String((err as Error)?.message ?? err) })
      return json(timedOut ? 504 : 502, timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY)
    } finally {
      clearTimeout(timer)
    }
    const upstreamSocket = (res as Response & { webSocket?: CfWebSocket | null }).webSocket
    if (!upstreamSocket) {
      const status = res.status >= 400 && res.status <= 599 ? res.status : 502
      return json(status, status === 502 ? BAD_GATEWAY : 'Zenzefi refused the WebSocket upgrade')
    }
    const upstream = upstreamSocket
    upstream.accept()
    const pair = new WebSocketPair()
    const client = pair[0]
    const server = pair[1]
    server.accept()
    // Without this, compatibility dates from 2026-04-01 deliver binary frames as Blobs.
    server.binaryType = 'arraybuffer'
    upstream.binaryType = 'arraybuffer'

    let open = true
    // Owned: a revoke is usually heard while serving another request (the DELETE), and
    // that request can't close these sockets; the close then runs in this one (registerOwned).
    const unregister = sessions.registerOwned(auth.hash, auth.grant.expiresAt, (reason) => shut(...closeFrame(reason)))
    function shut(code: number, reason: string) {
      if (!open) return
      open = false
      unregister()
      const c = sendableCloseCode(code) ? code : 1000
      for (const ws of [server, upstream]) {
        try {
          ws.close(c, reason)
        } catch {
          // already closing
        }
      }
      log.info('websocket', { path: url.pathname, status: 101, code })
    }
    server.addEventListener('message', (e) => open && upstream.send(e.data as string | ArrayBuffer))
    upstream.addEventListener('message', (e) => open && server.send(e.data as string | ArrayBuffer))
    server.addEventListener('close', (e) => shut(e.code, e.reason))
    upstream.addEventListener('close', (e) => shut(e.code, e.reason))
    server.addEventListener('error', () => shut(1011, 'client error'))
    upstream.addEventListener('error', () => shut(1011, 'upstream error'))

    const protocol = res.headers.get('sec-websocket-protocol')
    return new Response(null, { status: 101, webSocket: client, headers: protocol ? { 'sec-websocket-protocol': protocol } : {} } as ResponseInit)
  }
}
