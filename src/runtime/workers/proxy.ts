// The Workers HTTP transport: carries out the shared pipeline's plan over
// Web-standard fetch, streaming both ways. The rules (auth, headers, URL mapping,
// rewriting) are the shared gateway code's; this file only moves bytes.

import { type Access, accessFields, contentLengthOf, proxyModeOf, utf8Length } from '../../gateway/access-log'
import { BAD_GATEWAY, detailReply, forRequest, GATEWAY_TIMEOUT, headersOf, replyResponse } from '../../gateway/answers'
import type { SessionMeter } from '../../gateway/device-sessions'
import type { HeaderPair } from '../../gateway/headers'
import { downstreamResponseHeaders } from '../../gateway/headers'
import type { LiveSessions } from '../../gateway/live-sessions'
import type { ProxyPipeline } from '../../gateway/pipeline'
import type { RequestMeta } from '../../gateway/request-id'
import { bodyKind, type HtmlEngine, isIdentity, rewriterFor, toTransformStream } from '../../rewrite/body'
import { PROXY_PREFIX, type UrlMapper } from '../../rewrite/url-mapper'
import { webProxyRequest } from './proxy-request'

export interface FetchProxyDeps {
  pipeline: ProxyPipeline
  sessions: LiveSessions
  target: string
  timeoutMs: number
  fetchUpstream: (request: Request) => Promise<Response>
  /** The runtime's stream HTML rewriter (the Workers built-in HTMLRewriter)... */
  rewriteHtml?: (body: ReadableStream<Uint8Array>, mapper: UrlMapper) => ReadableStream<Uint8Array>
  /** ...or a chunk HTML engine (html-rewriter-wasm). With neither, HTML passes through. */
  htmlEngine?: HtmlEngine
  log: { info(msg: string, fields?: Record<string, unknown>): void; error(msg: string, fields?: Record<string, unknown>): void }
}

const BODYLESS = new Set([101, 204, 205, 304])

/**
 * An upload as a stream that tells us when it moved and when it ended: the
 * response-header timeout counts from the end of the upload, and while the upload
 * runs it only fires if Zenzefi stops taking bytes for that long.
 */
function watchedUpload(body: ReadableStream<Uint8Array>, onProgress: (bytes: number) => void, onEnd: () => void): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onProgress(chunk.byteLength)
        controller.enqueue(chunk)
      },
      flush: () => onEnd(),
    }),
  )
}

/**
 * A session's tracking for an I/O object of this request: a terminate heard while serving another
 * request only resolves a promise made here, and the close runs in this request's own context.
 */
export function ownedTrack(meter: SessionMeter, close: (reason: 'revoked') => void, kind: 'stream' | 'websocket' = 'stream'): () => void {
  let done = false
  let fire!: () => void
  const fired = new Promise<void>((resolve) => (fire = resolve))
  const untrack = meter.track(() => fire(), kind)
  void fired.then(() => {
    if (done) return
    done = true
    untrack()
    close('revoked')
  })
  return () => {
    done = true
    untrack()
  }
}

export function createFetchProxy(deps: FetchProxyDeps) {
  const target = new URL(deps.target)

  return async function handle(request: Request, route: { path: string; search: string }, meta: RequestMeta): Promise<Response> {
    const started = performance.now()
    const method = request.method
    // The one access line for this request, once its answer is over. Path only: query strings may carry tokens.
    const path = PROXY_PREFIX + route.path
    const access: Access = { method, path, status: 0, started, meta, mode: proxyModeOf(request.headers.get('x-local-url')) }
    let logged = false
    let meter: SessionMeter | null = null
    const logLine = (status: number, extra?: Record<string, unknown>) => {
      if (logged) return
      logged = true
      meter?.add(access.bytesIn, access.bytesOut)
      deps.log.info('proxy', accessFields({ ...access, status }, extra))
    }
    const outcome = await deps.pipeline.run(webProxyRequest(request, 'http', route, meta))
    if (outcome.kind === 'reply') {
      access.grant = outcome.grant
      access.bytesOut = utf8Length(outcome.reply.body)
      logLine(outcome.reply.status)
      return replyResponse(outcome.reply)
    }
    const { plan } = outcome
    meter = outcome.session
    access.grant = plan.grant
    access.mode = plan.mapper.desktop ? 'desktop' : 'direct'
    access.bytesIn = plan.framing.kind === 'none' ? 0 : contentLengthOf(request.headers.get('content-length'))
    let status = 0

    const abort = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    let timedOut = false
    let answered = false
    // (Re)starts the response-header timeout; an upload still running after Zenzefi answered no longer counts.
    const arm = () => {
      if (answered) return
      clearTimeout(timer)
      timer = setTimeout(() => {
        timedOut = true
        abort.abort(new Error('timeout'))
      }, deps.timeoutMs)
    }
    arm()
    // The client's body stream, once there is one: a revoked or expired token cuts it mid-response.
    let downstream: TransformStreamDefaultController<Uint8Array> | null = null
    // Owned: on Workers the revocation may be heard while serving another request, which
    // can't touch this request's fetch or stream; the close then runs here (see registerOwned).
    // Its end also gives back the request's in-flight place (outcome.release, from the rate-limit step).
    const cut = (reason: string) => {
      const err = new Error(`token ${reason}`)
      abort.abort(err)
      try {
        downstream?.error(err)
      } catch {
        // already finished
      }
      if (status) logLine(status, { error: 'stream aborted' })
    }
    const unregisterLive = deps.sessions.registerOwned(plan.hash, plan.grant.expiresAt, cut, 'stream', outcome.release)
    // Its device's session holds it too: terminating the session cuts it (heard in this request, as registerOwned does).
    const untrack = meter ? ownedTrack(meter, cut) : null
    const unregister = () => {
      unregisterLive()
      untrack?.()
    }
    request.signal?.addEventListener('abort', () => abort.abort(request.signal.reason))
    let upstream: Response
    let uploaded = 0
    try {
      const hasBody = plan.framing.kind !== 'none' && request.body !== null
      upstream = await deps.fetchUpstream(
        new Request(`${target.origin}${plan.target}`, {
          method,
          headers: plan.headers,
          body: hasBody
            ? watchedUpload(
                request.body!,
                (bytes) => {
                  access.bytesIn = uploaded += bytes
                  arm()
                },
                arm,
              )
            : null,
          redirect: 'manual',
          signal: abort.signal,
          // Streams the request body (required by fetch for a stream body).
          ...(hasBody ? { duplex: 'half' } : {}),
        } as RequestInit),
      )
    } catch (err) {
      unregister()
      const failed = timedOut ? 504 : 502
      deps.log.error('upstream request failed', { method, path, status: failed, request_id: meta.requestId, error: String((err as Error)?.message ?? err) })
      const reply = forRequest(detailReply(failed, timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY), meta.requestId)
      access.bytesOut = utf8Length(reply.body)
      logLine(failed)
      return replyResponse(reply)
    } finally {
      answered = true
      clearTimeout(timer)
    }

    // fetch hands us the body already decoded, so its encoding and length no longer describe it.
    const encoded = upstream.headers.has('content-encoding')
    const bodyless = method === 'HEAD' || BODYLESS.has(upstream.status) || upstream.body === null
    const contentType = upstream.headers.get('content-type')
    const builtInHtml = !bodyless && deps.rewriteHtml !== undefined && bodyKind(contentType) === 'html' && !isIdentity(plan.mapper)
    const rewriter = bodyless || builtInHtml ? null : rewriterFor(contentType, plan.mapper, deps.htmlEngine ?? null)
    const pairs: HeaderPair[] = []
    for (const [name, value] of upstream.headers) if (name !== 'set-cookie') pairs.push([name, value])
    for (const cookie of upstream.headers.getSetCookie()) pairs.push(['set-cookie', cookie])
    const flat = downstreamResponseHeaders(pairs, {
      mapper: plan.mapper,
      rewriting: rewriter !== null || builtInHtml || encoded,
      corsOrigin: plan.corsOrigin,
      requestId: meta.requestId,
    })
    access.upstreamMs = performance.now() - started
    status = upstream.status

    let body: ReadableStream<Uint8Array> | null = bodyless ? null : upstream.body
    if (body && builtInHtml) body = deps.rewriteHtml!(body, plan.mapper)
    else if (body && rewriter) body = body.pipeThrough(toTransformStream(rewriter))
    if (body) {
      // Tracked until the body has been consumed or the client went away.
      // (`cancel` is in the Streams spec, Node 20 and workerd, not yet in TS's lib.)
      // Counted as it goes to the client, for the access line written when it ends.
      let sent = 0
      const tracker: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
        start: (controller) => void (downstream = controller),
        transform: (chunk, controller) => {
          access.bytesOut = sent += chunk.byteLength
          controller.enqueue(chunk)
        },
        flush: () => {
          unregister()
          logLine(status)
        },
        cancel: (reason) => {
          unregister()
          abort.abort(reason)
          logLine(status, { error: 'stream aborted' })
        },
      }
      access.bytesOut = 0
      body = body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>(tracker))
    } else {
      unregister()
      access.bytesOut = 0
      logLine(status)
    }
    if (outcome.setCookie) flat.push('Set-Cookie', outcome.setCookie)
    return new Response(body, { status: upstream.status, headers: headersOf(flat) })
  }
}
