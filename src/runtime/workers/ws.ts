// The Workers WebSocket transport: the shared pipeline decides, then we dial
// Zenzefi with fetch + Upgrade and only then hand the client its end of a
// WebSocketPair. Same rules as Node, from the same steps.

import type { Config } from '../../config'
import { type Access, accessFields, proxyModeOf, utf8Length } from '../../gateway/access-log'
import { BAD_GATEWAY, detailReply, forRequest, GATEWAY_TIMEOUT, type Reply, replyResponse, UPGRADE_REFUSED } from '../../gateway/answers'
import type { LiveSessions } from '../../gateway/live-sessions'
import type { ProxyPipeline } from '../../gateway/pipeline'
import { REQUEST_ID_HEADER, type RequestMeta } from '../../gateway/request-id'
import { closeFrame, MESSAGE_TOO_BIG, sendableCloseCode } from '../../gateway/websocket-close'
import type { Logger } from '../../logger'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { ownedTrack } from './proxy'
import { webProxyRequest } from './proxy-request'

interface CfWebSocket extends WebSocket {
  accept(): void
}
declare const WebSocketPair: { new (): { 0: CfWebSocket; 1: CfWebSocket } }

const encoder = new TextEncoder()
/** A message's size in bytes (UTF-8 for text), counting only as far as needed. */
function tooBig(data: string | ArrayBuffer, max: number): boolean {
  if (typeof data !== 'string') return data.byteLength > max
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: most messages are decided without encoding them.
  if (data.length * 3 <= max) return false
  if (data.length > max) return true
  return encoder.encode(data).byteLength > max
}

export function createWorkerWsRelay(deps: {
  config: Config
  pipeline: ProxyPipeline
  sessions: LiveSessions
  log: Logger
  fetchUpstream: (request: Request) => Promise<Response>
}) {
  const { config, pipeline, sessions, log } = deps
  const target = new URL(config.zenzefiTargetUrl)
  const maxBytes = config.wsMaxMessageBytes

  return async function relay(request: Request, route: { path: string; search: string }, meta: RequestMeta): Promise<Response> {
    const started = performance.now()
    const path = PROXY_PREFIX + route.path
    // The one access line for this upgrade: at its refusal, or when the relay ends. Path only: the query may carry the token.
    const access: Access = { method: request.method, path, status: 0, started, meta, mode: proxyModeOf(request.headers.get('x-local-url')) }
    const logLine = (status: number, extra?: Record<string, unknown>) => log.info('websocket', accessFields({ ...access, status }, extra))
    const refuse = (refusal: Reply, extra?: Record<string, unknown>) => {
      const reply = forRequest(refusal, meta.requestId)
      access.bytesOut = utf8Length(reply.body)
      logLine(reply.status, extra)
      return replyResponse(reply)
    }
    const decided = await pipeline.run(webProxyRequest(request, 'websocket', route, meta))
    if (decided.kind === 'reply') {
      access.grant = decided.grant
      return refuse(decided.reply)
    }
    const { plan } = decided
    access.grant = plan.grant
    access.mode = plan.mapper.desktop ? 'desktop' : 'direct'
    const headers: Record<string, string> = { ...plan.headers, upgrade: 'websocket' }
    if (plan.protocols) headers['sec-websocket-protocol'] = plan.protocols
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
      res = await deps.fetchUpstream(new Request(`${target.origin}${plan.target}`, { headers, signal: handshake.signal }))
    } catch (err) {
      log.error('upstream websocket failed', { path, status: timedOut ? 504 : 502, request_id: meta.requestId, error: String((err as Error)?.message ?? err) })
      return refuse(detailReply(timedOut ? 504 : 502, timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY))
    } finally {
      clearTimeout(timer)
    }
    access.upstreamMs = performance.now() - started
    const upstreamSocket = (res as Response & { webSocket?: CfWebSocket | null }).webSocket
    if (!upstreamSocket) {
      const status = res.status >= 400 && res.status <= 599 ? res.status : 502
      return refuse(detailReply(status, status === 502 ? BAD_GATEWAY : UPGRADE_REFUSED), { upstreamStatus: res.status })
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
    const unregister = sessions.registerOwned(plan.hash, plan.grant.expiresAt, (reason) => shut(...closeFrame(reason)), 'websocket')
    // Terminating its device's session closes it too (1008), and the session learns its traffic.
    const meter = decided.session
    const untrack = meter ? ownedTrack(meter, (reason) => shut(...closeFrame(reason)), 'websocket') : null
    let bytesIn = 0
    let bytesOut = 0
    function shut(code: number, reason: string) {
      if (!open) return
      open = false
      unregister()
      untrack?.()
      meter?.add(bytesIn, bytesOut)
      const c = sendableCloseCode(code) ? code : 1000
      for (const ws of [server, upstream]) {
        try {
          ws.close(c, reason)
        } catch {
          // already closing
        }
      }
      logLine(101, { code })
    }
    const forward = (to: CfWebSocket, fromClient: boolean) => (e: MessageEvent) => {
      if (!open) return
      const data = e.data as string | ArrayBuffer
      if (tooBig(data, maxBytes)) return shut(...MESSAGE_TOO_BIG)
      // Message payloads (text as UTF-16 units: close enough for a count, and free).
      const size = typeof data === 'string' ? data.length : data.byteLength
      if (fromClient) bytesIn += size
      else bytesOut += size
      to.send(data)
    }
    server.addEventListener('message', forward(upstream, true))
    upstream.addEventListener('message', forward(server, false))
    server.addEventListener('close', (e) => shut(e.code, e.reason))
    upstream.addEventListener('close', (e) => shut(e.code, e.reason))
    server.addEventListener('error', () => shut(1011, 'client error'))
    upstream.addEventListener('error', () => shut(1011, 'upstream error'))

    const protocol = res.headers.get('sec-websocket-protocol')
    const answer: Record<string, string> = { [REQUEST_ID_HEADER]: meta.requestId }
    if (protocol) answer['sec-websocket-protocol'] = protocol
    return new Response(null, { status: 101, webSocket: client, headers: answer } as ResponseInit)
  }
}
