// Proxied HTTP over Web-standard fetch: the Workers path (and any runtime
// without the Node fast path). Same planner, header rules and rewriters as Node.

import { bodyKind, type HtmlEngine, isIdentity, rewriterFor, toTransformStream } from '../rewrite/body'
import { PROXY_PREFIX, type UrlMapper } from '../rewrite/url-mapper'
import type { HeaderPair } from './headers'
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers'
import type { LiveSessions } from './live-sessions'
import { BAD_GATEWAY, GATEWAY_TIMEOUT, type ProxyPlanner } from './proxy-plan'

export interface FetchProxyDeps {
  planner: ProxyPlanner
  sessions: LiveSessions
  target: string
  timeoutMs: number
  fetchUpstream: (request: Request) => Promise<Response>
  /** True for an Authorization header that is our own JWT (never forwarded); WebCrypto makes it async on Workers. */
  isOwnCredential?: (authorization: string) => boolean | Promise<boolean>
  /** The runtime's stream HTML rewriter (the Workers built-in HTMLRewriter)... */
  rewriteHtml?: (body: ReadableStream<Uint8Array>, mapper: UrlMapper) => ReadableStream<Uint8Array>
  /** ...or a chunk HTML engine (html-rewriter-wasm). With neither, HTML passes through. */
  htmlEngine?: HtmlEngine
  log: { info(msg: string, fields?: Record<string, unknown>): void; error(msg: string, fields?: Record<string, unknown>): void }
}

/** A `{"detail"}` answer, as every error of the API. */
export const detailResponse = (status: number, detail: string) =>
  new Response(JSON.stringify({ detail }), { status, headers: { 'content-type': 'application/json' } })

/** Our flat [name, value, ...] header lists as Headers (repeated names, e.g. Set-Cookie, stay separate). */
function headersOf(flat: string[]): Headers {
  const headers = new Headers()
  for (let i = 0; i < flat.length; i += 2) headers.append(flat[i]!, flat[i + 1]!)
  return headers
}

const BODYLESS = new Set([101, 204, 205, 304])

export function createFetchProxy(deps: FetchProxyDeps) {
  const target = new URL(deps.target)
  const basePath = target.pathname.replace(/\/+$/, '')

  return async function handle(request: Request, clientIp: string): Promise<Response> {
    const url = new URL(request.url)
    const path = url.pathname.slice(PROXY_PREFIX.length) || '/'
    const method = request.method
    const outcome = await deps.planner.plan({ method, path, search: url.search, header: (n) => request.headers.get(n) })
    if (outcome.kind === 'reply') {
      return new Response(outcome.body || null, { status: outcome.status, headers: headersOf(outcome.headers) })
    }

    // Decided once, up front: the header rules are synchronous and the check may not be.
    const authorization = request.headers.get('authorization')
    const ownCredential = authorization !== null && deps.isOwnCredential ? await deps.isOwnCredential(authorization) : false
    const headers = upstreamRequestHeaders([...request.headers] as HeaderPair[], {
      upstreamHost: target.host,
      clientIp,
      proto: url.protocol === 'https:' ? 'https' : 'http',
      clientHost: request.headers.get('host'),
      userId: outcome.grant.userId,
      tokenId: outcome.grant.tokenId,
      isOwnCredential: () => ownCredential,
    })
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(new Error('timeout')), deps.timeoutMs)
    // The client's body stream, once there is one: a revoked or expired token cuts it mid-response.
    let downstream: TransformStreamDefaultController<Uint8Array> | null = null
    // Owned: on Workers the revocation may be heard while serving another request, which
    // can't touch this request's fetch or stream; the close then runs here (see registerOwned).
    const unregister = deps.sessions.registerOwned(outcome.hash, outcome.grant.expiresAt, (reason) => {
      const err = new Error(`token ${reason}`)
      abort.abort(err)
      try {
        downstream?.error(err)
      } catch {
        // already finished
      }
    })
    request.signal?.addEventListener('abort', () => abort.abort(request.signal.reason))
    let upstream: Response
    try {
      const hasBody = method !== 'GET' && method !== 'HEAD'
      upstream = await deps.fetchUpstream(
        new Request(`${target.origin}${basePath}${path}${url.search}`, {
          method,
          headers,
          body: hasBody ? request.body : null,
          redirect: 'manual',
          signal: abort.signal,
          // Streams the request body (required by fetch for a stream body).
          ...(hasBody ? { duplex: 'half' } : {}),
        } as RequestInit),
      )
    } catch (err) {
      unregister()
      const timedOut = abort.signal.aborted && String((abort.signal.reason as Error)?.message) === 'timeout'
      deps.log.error('upstream request failed', { method, path: url.pathname, status: timedOut ? 504 : 502, error: String((err as Error)?.message ?? err) })
      return timedOut ? detailResponse(504, GATEWAY_TIMEOUT) : detailResponse(502, BAD_GATEWAY)
    } finally {
      clearTimeout(timer)
    }

    // fetch hands us the body already decoded, so its encoding and length no longer describe it.
    const encoded = upstream.headers.has('content-encoding')
    const bodyless = method === 'HEAD' || BODYLESS.has(upstream.status) || upstream.body === null
    const contentType = upstream.headers.get('content-type')
    const builtInHtml = !bodyless && deps.rewriteHtml !== undefined && bodyKind(contentType) === 'html' && !isIdentity(outcome.mapper)
    const rewriter = bodyless || builtInHtml ? null : rewriterFor(contentType, outcome.mapper, deps.htmlEngine ?? null)
    const pairs: HeaderPair[] = []
    for (const [name, value] of upstream.headers) if (name !== 'set-cookie') pairs.push([name, value])
    for (const cookie of upstream.headers.getSetCookie()) pairs.push(['set-cookie', cookie])
    const flat = downstreamResponseHeaders(pairs, {
      mapper: outcome.mapper,
      rewriting: rewriter !== null || builtInHtml || encoded,
      corsOrigin: outcome.corsOrigin,
    })

    let body: ReadableStream<Uint8Array> | null = bodyless ? null : upstream.body
    if (body && builtInHtml) body = deps.rewriteHtml!(body, outcome.mapper)
    else if (body && rewriter) body = body.pipeThrough(toTransformStream(rewriter))
    if (body) {
      // Tracked until the body has been consumed or the client went away.
      // (`cancel` is in the Streams spec, Node 20 and workerd, not yet in TS's lib.)
      const tracker: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
        start: (controller) => void (downstream = controller),
        flush: () => unregister(),
        cancel: (reason) => {
          unregister()
          abort.abort(reason)
        },
      }
      body = body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>(tracker))
    } else unregister()
    deps.log.info('proxy', { method, path: url.pathname, status: upstream.status })
    return new Response(body, { status: upstream.status, headers: headersOf(flat) })
  }
}
