import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import { type Duplex, PassThrough, type Readable } from 'node:stream'
import zlib from 'node:zlib'
import type { Dispatcher } from 'undici'
import type { Config } from '../../config'
import { type Access, accessFields, proxyModeOf } from '../../gateway/access-log'
import { BAD_GATEWAY, GATEWAY_TIMEOUT } from '../../gateway/answers'
import type { SessionMeter } from '../../gateway/device-sessions'
import { decodableEncoding, downstreamResponseHeaders, type HeaderPair } from '../../gateway/headers'
import type { LiveSessions } from '../../gateway/live-sessions'
import type { ProxyKind, ProxyPipeline, ProxyRequest } from '../../gateway/pipeline'
import { REQUEST_ID_HEADER, type RequestMeta } from '../../gateway/request-id'
import type { Logger } from '../../logger'
import { type GatewayMetrics, gatewayMetrics, type UpstreamError } from '../../metrics/gateway'
import { noopMetrics } from '../../metrics/interface'
import { bodyKind, isIdentity } from '../../rewrite/body'
import { rewriteTextBytes } from '../../rewrite/text'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { rewriterFor } from './html-rewriter-wasm'
import { rewriteTransform } from './rewrite-stream'
import { createUpstreamPool } from './upstream-pool'
import { upstreamTls } from './upstream-tls'

/** rawHeaders [k, v, k, v] → pairs, without copying values. */
export function pairsOf(raw: string[]): HeaderPair[] {
  const out: HeaderPair[] = new Array(raw.length >> 1)
  for (let i = 0; i < raw.length; i += 2) out[i >> 1] = [raw[i]!, raw[i + 1]!]
  return out
}

/** A node:http request as the pipeline sees it, with what the front door decided (client address, request id). */
export function proxyRequest(req: IncomingMessage, kind: ProxyKind, route: { path: string; search: string }, meta: RequestMeta): ProxyRequest {
  return {
    kind,
    method: req.method ?? 'GET',
    path: route.path,
    search: route.search,
    header: (name) => {
      const v = req.headers[name]
      return Array.isArray(v) ? v.join(', ') : v
    },
    headerPairs: () => pairsOf(req.rawHeaders),
    clientIp: meta.clientIp,
    requestId: meta.requestId,
    proto: meta.proto,
  }
}

export function upstreamAgent(config: Pick<Config, 'zenzefiTargetUrl' | 'zenzefiCaFile' | 'zenzefiTlsInsecure'>) {
  const secure = new URL(config.zenzefiTargetUrl).protocol === 'https:'
  // Keep-alive to the upstream: a new TLS handshake per request would cost more than everything else on the path.
  const common = { keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo' as const }
  return secure ? new https.Agent({ ...common, ...upstreamTls(config) }) : new http.Agent(common)
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
])

/** A short, safe reason for the 502 body; the log gets the detail. */
function failureReason(err: NodeJS.ErrnoException): string {
  if (err.code && TLS_TRUST_CODES.has(err.code)) return 'upstream certificate not trusted'
  if (err.code === 'ECONNREFUSED') return 'connection refused'
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return 'host not found'
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'UND_ERR_SOCKET') return 'connection reset'
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'host unreachable'
  return 'upstream error'
}

/** zenzefi_upstream_errors_total's reason for a failed request to Zenzefi. */
export function upstreamErrorOf(err: NodeJS.ErrnoException, timedOut: boolean): UpstreamError {
  if (timedOut || err.code === 'ETIMEDOUT' || err.code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout'
  if (err.code === 'ECONNREFUSED') return 'refused'
  if (err.code && (TLS_TRUST_CODES.has(err.code) || err.code.startsWith('ERR_TLS_') || err.code.startsWith('ERR_SSL_') || err.code.includes('CERT')))
    return 'tls'
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'UND_ERR_SOCKET') return 'reset'
  return 'other'
}

/** Our own 502/504: `{"detail", "request_id"}`; returns the body's length. */
function sendJson(res: ServerResponse, status: number, detail: string, requestId: string): number {
  if (res.headersSent) {
    res.destroy()
    return 0
  }
  const body = JSON.stringify({ detail, request_id: requestId })
  const length = Buffer.byteLength(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': length, [REQUEST_ID_HEADER]: requestId }).end(body)
  return length
}

const BODYLESS_STATUS = new Set([204, 304])
/** Bodies up to this size (by Content-Length) are rewritten in one pass rather than streamed. */
const SMALL_TEXT_BYTES = 64 * 1024

type Stream = Readable | Duplex

/**
 * source → [decoder → rewriter] → client with pipe() and explicit failure
 * handling. stream.pipeline() does the same but costs ~95 µs more per response
 * on Node 20 (an AbortController and a DOMException per call), which on small
 * responses is most of a bare proxy's whole budget.
 */
function relay(stages: Stream[], res: ServerResponse, done: (err: Error | undefined, bytesOut: number) => void) {
  let finished = false
  let bytesOut = 0
  const fail = (err: Error) => {
    if (finished) return
    finished = true
    for (const s of stages) s.destroy()
    if (!res.destroyed) res.destroy()
    done(err, bytesOut)
  }
  let tail: NodeJS.ReadableStream = stages[0]!
  for (const s of stages.slice(1)) tail = tail.pipe(s as Duplex)
  // Counted as it goes to the client (after rewriting), for the access line.
  tail.on('data', (chunk: Buffer) => void (bytesOut += chunk.length))
  tail.pipe(res)
  for (const s of stages) s.on('error', fail)
  res.on('finish', () => {
    if (finished) return
    finished = true
    done(undefined, bytesOut)
  })
  res.on('close', () => {
    if (!res.writableFinished) fail(new Error('client went away'))
  })
}

/** undici's response headers as [name, value] pairs (repeats, e.g. Set-Cookie, as separate pairs). */
function pairsOfObject(headers: Record<string, string | string[] | undefined>): HeaderPair[] {
  const out: HeaderPair[] = []
  for (const name in headers) {
    const v = headers[name]
    if (typeof v === 'string') out.push([name, v])
    else if (v) for (const one of v) out.push([name, one])
  }
  return out
}

const single = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v)

/** What the response is turned into on its way to the client, chosen when Zenzefi's headers arrive. */
type Sink = { data(chunk: Buffer): boolean; end(): void; fail(err: Error): void }

/**
 * The Node fast path for proxied HTTP: node:http in, undici out over keep-alive
 * connections, bodies streamed with backpressure. The decisions (auth, headers,
 * URL mapping, rewriting) are the shared gateway code's.
 */
export function createNodeProxy(deps: { config: Config; pipeline: ProxyPipeline; sessions: LiveSessions; log: Logger; metrics?: GatewayMetrics }) {
  const { config, pipeline, sessions, log } = deps
  const metrics = deps.metrics ?? gatewayMetrics(noopMetrics)
  // WebSocket upgrades and the readiness probe dial with node:http; proxied HTTP goes through the pool.
  const agent = upstreamAgent(config)
  const pool = createUpstreamPool(config)
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000

  return {
    agent,
    /** Closes the upstream connections (at shutdown, once the server is closed). */
    close() {
      agent.destroy()
      void pool.destroy().catch(() => {})
    },
    async handle(req: IncomingMessage, res: ServerResponse, route: { path: string; search: string }, meta: RequestMeta): Promise<void> {
      const started = performance.now()
      const method = req.method ?? 'GET'
      // The one access line for this request. Path only: query strings may carry tokens.
      const access: Access = { method, path: PROXY_PREFIX + route.path, status: 0, started, meta, mode: proxyModeOf(req.headers['x-local-url']) }
      let meter: SessionMeter | null = null
      // Counted where the access line is written: every proxied request has exactly one.
      const logLine = (status: number, extra?: Record<string, unknown>) => {
        metrics.proxied(access.mode === 'desktop' ? 'desktop' : 'direct', status, access.bytesIn, access.bytesOut)
        meter?.add(access.bytesIn, access.bytesOut)
        access.status = status
        log.info('proxy', accessFields(access, extra))
      }

      const outcome = await pipeline.run(proxyRequest(req, 'http', route, meta))
      if (outcome.kind === 'reply') {
        const { reply } = outcome
        // A body we refused is read and dropped (Node does that once the answer is sent), never forwarded.
        res.writeHead(reply.status, reply.headers).end(reply.body)
        access.grant = outcome.grant
        access.bytesOut = Buffer.byteLength(reply.body)
        logLine(reply.status)
        return
      }
      const { plan, setCookie } = outcome
      meter = outcome.session
      access.grant = plan.grant
      access.mode = plan.mapper.desktop ? 'desktop' : 'direct'
      access.bytesIn = plan.framing.kind === 'length' ? plan.framing.length : plan.framing.kind === 'none' ? 0 : null

      const headers: Record<string, string> = plan.headers
      // node:http has answered a client's Expect: 100-continue already; the body follows as it comes.
      delete headers.expect

      // ZENZEFI_TIMEOUT_SECONDS is how long we wait for Zenzefi's answer once the request is sent;
      // while an upload runs, it is how long Zenzefi may go without taking any of it.
      let timedOut = false
      let answered = false
      let controller: Dispatcher.DispatchController | null = null
      let cancelled = false
      const abortUpstream = (why: Error) => {
        cancelled = true
        controller?.abort(why)
      }
      // One timer per request, pushed back as the upload moves (refresh(): no new timer per chunk).
      const timer = setTimeout(() => {
        timedOut = true
        abortUpstream(new Error('response header timeout'))
      }, timeoutMs)
      const arm = () => {
        if (!answered) timer.refresh()
      }
      // Its end also gives back the request's in-flight place (outcome.release, from the rate-limit step).
      const cut = () => {
        abortUpstream(new Error('cut'))
        res.destroy()
      }
      const unregister = sessions.register(plan.hash, plan.grant.expiresAt, cut, 'stream', outcome.release)
      // Its device's session holds it too, so that terminating the session cuts it.
      const untrack = meter?.track(cut, 'stream')
      // The client went away (or its stream was closed on revocation): stop the upstream work too.
      res.on('close', () => {
        clearTimeout(timer)
        unregister()
        untrack?.()
        if (!res.writableFinished) abortUpstream(new Error('client went away'))
      })
      // A client that left while the pipeline ran has closed already: no 'close' event is coming.
      if (res.destroyed) {
        unregister()
        untrack?.()
      }

      const failed = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        // A client that went away destroyed this request itself: not Zenzefi's failure.
        if (!res.destroyed) metrics.upstreamErrors[upstreamErrorOf(err, timedOut)].inc()
        if (res.headersSent || res.destroyed) return void res.destroy()
        if (timedOut) {
          access.bytesOut = sendJson(res, 504, GATEWAY_TIMEOUT, meta.requestId)
          logLine(504, { error: `no response headers within ${config.zenzefiTimeoutSeconds} s (ZENZEFI_TIMEOUT_SECONDS)` })
          return
        }
        const cause = (err.cause as NodeJS.ErrnoException | undefined) ?? err
        const reason = failureReason(err.code ? err : cause)
        access.bytesOut = sendJson(res, 502, `${BAD_GATEWAY} (${reason})`, meta.requestId)
        const fix =
          reason === 'upstream certificate not trusted'
            ? 'set ZENZEFI_CA_FILE to the PEM of the CA that signed the Zenzefi certificate (or ZENZEFI_TLS_INSECURE=true to skip verification)'
            : undefined
        logLine(502, { code: err.code, error: err.message, fix })
      }

      let sink: Sink | null = null
      const answer = (status: number, upHeaders: Record<string, string | string[] | undefined>): Sink => {
        const bodyless = method === 'HEAD' || BODYLESS_STATUS.has(status)
        const encoding = decodableEncoding(single(upHeaders['content-encoding']))
        const contentType = single(upHeaders['content-type']) ?? null
        const length = Number(single(upHeaders['content-length']) ?? Infinity)
        const downstream = (rewriting: boolean) =>
          downstreamResponseHeaders(pairsOfObject(upHeaders), { mapper: plan.mapper, rewriting, corsOrigin: plan.corsOrigin, requestId: meta.requestId })
        // A small uncompressed CSS/JS/JSON body (Zenzefi's REST answers): read whole and rewritten in one pass,
        // sent with its new Content-Length — no stream stages, no chunked encoding.
        const kind = !bodyless && encoding === 'identity' && length <= SMALL_TEXT_BYTES ? bodyKind(contentType) : null
        if (kind !== null && kind !== 'html' && !isIdentity(plan.mapper)) {
          const chunks: Buffer[] = []
          let size = 0
          return {
            data: (chunk) => {
              chunks.push(chunk)
              size += chunk.length
              return true
            },
            end: () => {
              const out = rewriteTextBytes(kind, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), plan.mapper)
              const h = downstream(true)
              h.push('Content-Length', String(out.length))
              if (setCookie) h.push('Set-Cookie', setCookie)
              res.writeHead(status, h).end(out)
              access.bytesOut = out.length
              logLine(status)
            },
            fail: () => {
              if (!res.destroyed) res.destroy()
              logLine(status, { error: 'stream aborted' })
            },
          }
        }
        const rewriter = bodyless || encoding === null ? null : rewriterFor(contentType, plan.mapper)
        const h = downstream(rewriter !== null)
        if (setCookie) h.push('Set-Cookie', setCookie)
        res.writeHead(status, h)
        if (!rewriter) {
          // Passed through as it comes: straight to the client's socket, paused while the client is slow.
          let bytesOut = 0
          let ended = false
          const resume = () => controller?.resume()
          res.on('finish', () => {
            access.bytesOut = bytesOut
            logLine(status)
          })
          return {
            data: (chunk) => {
              bytesOut += chunk.length
              if (res.write(chunk)) return true
              res.once('drain', resume)
              return false
            },
            end: () => {
              ended = true
              res.end()
            },
            fail: () => {
              if (ended) return
              ended = true
              if (!res.destroyed) res.destroy()
              access.bytesOut = bytesOut
              logLine(status, { error: 'stream aborted' })
            },
          }
        }
        // Decoded and rewritten as it streams: the stream stages read from what undici hands over.
        const source = new PassThrough()
        source.on('drain', () => controller?.resume())
        const stages: Stream[] = [source]
        if (encoding === 'gzip') stages.push(zlib.createGunzip())
        else if (encoding === 'deflate') stages.push(zlib.createInflate())
        else if (encoding === 'br') stages.push(zlib.createBrotliDecompress())
        stages.push(rewriteTransform(rewriter))
        relay(stages, res, (err, bytesOut) => {
          access.bytesOut = bytesOut
          logLine(status, err ? { error: 'stream aborted' } : undefined)
        })
        return {
          data: (chunk) => source.write(chunk),
          end: () => void source.end(),
          fail: (err) => void source.destroy(err),
        }
      }

      // The upload, streamed at the pace Zenzefi takes it. Through a stream of our own: undici destroys
      // the body it was given when the upstream fails, and the client's socket must live on for our 502.
      let body: PassThrough | null = null
      if (plan.framing.kind === 'none') req.resume()
      else {
        body = new PassThrough()
        let bytesIn = 0
        access.bytesIn = 0
        req.on('data', (chunk: Buffer) => {
          access.bytesIn = bytesIn += chunk.length
          arm()
        })
        req.on('end', arm)
        req.on('error', (err) => body?.destroy(err))
        req.pipe(body)
      }

      try {
        pool.dispatch(
          { path: plan.target, method, headers, body },
          {
            onRequestStart(c) {
              controller = c
              if (cancelled) c.abort(new Error('cancelled'))
            },
            onResponseStart(c, status, upHeaders) {
              // 1xx (103 Early Hints): the final answer is still to come.
              if (status < 200) return
              answered = true
              clearTimeout(timer)
              access.upstreamMs = performance.now() - started
              metrics.upstreamDuration.observe(access.upstreamMs / 1000)
              if (res.destroyed) return c.abort(new Error('client went away'))
              sink = answer(status, upHeaders as Record<string, string | string[] | undefined>)
            },
            onResponseData(c, chunk) {
              if (sink && !sink.data(chunk)) c.pause()
            },
            onResponseEnd() {
              sink?.end()
            },
            onResponseError(_c, err) {
              if (body) req.unpipe(body)
              if (sink) return sink.fail(err)
              failed(err as NodeJS.ErrnoException)
            },
          },
        )
      } catch (err) {
        // A request undici refuses to send (a header or path it won't put on the wire).
        clearTimeout(timer)
        if (body) req.unpipe(body)
        access.bytesOut = sendJson(res, 400, 'Bad Request', meta.requestId)
        logLine(400, { error: (err as Error).message })
      }
    },
  }
}

export type NodeProxy = ReturnType<typeof createNodeProxy>
