import { readFileSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Duplex, Readable } from 'node:stream'
import zlib from 'node:zlib'
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
  return secure
    ? new https.Agent({
        ...common,
        ca: config.zenzefiCaFile ? readFileSync(config.zenzefiCaFile) : undefined,
        rejectUnauthorized: !config.zenzefiTlsInsecure,
      })
    : new http.Agent(common)
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
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'connection reset'
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return 'host unreachable'
  return 'upstream error'
}

/** zenzefi_upstream_errors_total's reason for a failed request to Zenzefi. */
export function upstreamErrorOf(err: NodeJS.ErrnoException, timedOut: boolean): UpstreamError {
  if (timedOut || err.code === 'ETIMEDOUT') return 'timeout'
  if (err.code === 'ECONNREFUSED') return 'refused'
  if (err.code && (TLS_TRUST_CODES.has(err.code) || err.code.startsWith('ERR_TLS_') || err.code.startsWith('ERR_SSL_') || err.code.includes('CERT')))
    return 'tls'
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return 'reset'
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

/** The whole body of a response whose Content-Length is known and small. */
function readSmall(upRes: IncomingMessage, done: (err: Error | null, body?: Buffer) => void) {
  let called = false
  const cb = (err: Error | null, body?: Buffer) => {
    if (called) return
    called = true
    done(err, body)
  }
  const chunks: Buffer[] = []
  let size = 0
  upRes.on('data', (c: Buffer) => {
    chunks.push(c)
    size += c.length
  })
  upRes.on('end', () => cb(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
  upRes.on('error', (err) => cb(err))
  upRes.on('close', () => {
    if (!upRes.complete) cb(new Error('upstream closed before the end of the body'))
  })
}

type Stream = Readable | Duplex

/**
 * upstream → [decoder → rewriter] → client with pipe() and explicit failure
 * handling. stream.pipeline() does the same but costs ~95 µs more per response
 * on Node 20 (an AbortController and a DOMException per call), which on small
 * responses is most of a bare proxy's whole budget.
 */
function relay(stages: Stream[], upRes: IncomingMessage, res: ServerResponse, done: (err: Error | undefined, bytesOut: number) => void) {
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
  // An upstream that dies mid-body ends its stream without an error on some paths: a short body must not look complete.
  upRes.on('close', () => {
    if (!upRes.complete) fail(new Error('upstream closed before the end of the body'))
  })
  res.on('finish', () => {
    if (finished) return
    finished = true
    done(undefined, bytesOut)
  })
  res.on('close', () => {
    if (!res.writableFinished) fail(new Error('client went away'))
  })
}

/**
 * The Node fast path for proxied HTTP: node:http in, node:http(s) out with a
 * keep-alive agent, bodies piped with backpressure. The decisions (auth, headers,
 * URL mapping, rewriting) are the shared gateway code's.
 */
export function createNodeProxy(deps: { config: Config; pipeline: ProxyPipeline; sessions: LiveSessions; log: Logger; metrics?: GatewayMetrics }) {
  const { config, pipeline, sessions, log } = deps
  const metrics = deps.metrics ?? gatewayMetrics(noopMetrics)
  const target = new URL(config.zenzefiTargetUrl)
  const transport = target.protocol === 'https:' ? https : http
  const agent = upstreamAgent(config)
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000

  return {
    agent,
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
        log.info('proxy', accessFields({ ...access, status }, extra))
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
      // Forwarded framed as it came: a chunked body goes on chunked (node:http then encodes the chunks).
      if (plan.framing.kind === 'chunked') headers['transfer-encoding'] = 'chunked'
      const upReq = transport.request({
        agent,
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method,
        path: plan.target,
        headers,
      })
      // ZENZEFI_TIMEOUT_SECONDS is how long we wait for Zenzefi's answer once the request is sent;
      // while an upload runs, it is how long Zenzefi may go without taking any of it.
      let timedOut = false
      let answered = false
      // One timer per request, pushed back as the upload moves (refresh(): no new timer per chunk).
      const timer = setTimeout(() => {
        timedOut = true
        upReq.destroy(new Error('response header timeout'))
      }, timeoutMs)
      const arm = () => {
        if (!answered) timer.refresh()
      }
      // Its end also gives back the request's in-flight place (outcome.release, from the rate-limit step).
      const cut = () => {
        upReq.destroy()
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
        if (!res.writableFinished) upReq.destroy()
      })
      // A client that left while the pipeline ran has closed already: no 'close' event is coming.
      if (res.destroyed) {
        unregister()
        untrack?.()
      }

      upReq.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        // A client that went away destroyed this request itself: not Zenzefi's failure.
        if (!res.destroyed) metrics.upstreamErrors[upstreamErrorOf(err, timedOut)].inc()
        if (res.headersSent || res.destroyed) return void res.destroy()
        if (timedOut) {
          access.bytesOut = sendJson(res, 504, GATEWAY_TIMEOUT, meta.requestId)
          logLine(504, { error: `no response headers within ${config.zenzefiTimeoutSeconds} s (ZENZEFI_TIMEOUT_SECONDS)` })
          return
        }
        const reason = failureReason(err)
        access.bytesOut = sendJson(res, 502, `${BAD_GATEWAY} (${reason})`, meta.requestId)
        const fix =
          reason === 'upstream certificate not trusted'
            ? 'set ZENZEFI_CA_FILE to the PEM of the CA that signed the Zenzefi certificate (or ZENZEFI_TLS_INSECURE=true to skip verification)'
            : undefined
        logLine(502, { code: err.code, error: err.message, fix })
      })

      upReq.on('response', (upRes) => {
        answered = true
        clearTimeout(timer)
        access.upstreamMs = performance.now() - started
        metrics.upstreamDuration.observe(access.upstreamMs / 1000)
        const status = upRes.statusCode ?? 502
        const bodyless = method === 'HEAD' || BODYLESS_STATUS.has(status)
        const encoding = decodableEncoding(upRes.headers['content-encoding'])
        const contentType = upRes.headers['content-type'] ?? null
        const small = Number(upRes.headers['content-length'] ?? Infinity)
        // A small uncompressed CSS/JS/JSON body (Zenzefi's REST answers): read whole and rewritten in one pass,
        // sent with its new Content-Length — no stream stages, no chunked encoding.
        if (!bodyless && encoding === 'identity' && small <= SMALL_TEXT_BYTES) {
          const kind = bodyKind(contentType)
          if (kind !== null && kind !== 'html' && !isIdentity(plan.mapper)) {
            return void readSmall(upRes, (err, body) => {
              if (err || !body) {
                if (!res.destroyed) res.destroy()
                return logLine(status, { error: 'stream aborted' })
              }
              const out = rewriteTextBytes(kind, body, plan.mapper)
              const headers = downstreamResponseHeaders(pairsOf(upRes.rawHeaders), {
                mapper: plan.mapper,
                rewriting: true,
                corsOrigin: plan.corsOrigin,
                requestId: meta.requestId,
              })
              headers.push('Content-Length', String(out.length))
              if (setCookie) headers.push('Set-Cookie', setCookie)
              res.writeHead(status, headers).end(out)
              access.bytesOut = out.length
              logLine(status)
            })
          }
        }
        const rewriter = bodyless || encoding === null ? null : rewriterFor(contentType, plan.mapper)
        const answerHeaders = downstreamResponseHeaders(pairsOf(upRes.rawHeaders), {
          mapper: plan.mapper,
          rewriting: rewriter !== null,
          corsOrigin: plan.corsOrigin,
          requestId: meta.requestId,
        })
        if (setCookie) answerHeaders.push('Set-Cookie', setCookie)
        res.writeHead(status, answerHeaders)
        const stages: Stream[] = [upRes]
        if (rewriter) {
          if (encoding === 'gzip') stages.push(zlib.createGunzip())
          else if (encoding === 'deflate') stages.push(zlib.createInflate())
          else if (encoding === 'br') stages.push(zlib.createBrotliDecompress())
          stages.push(rewriteTransform(rewriter))
        }
        relay(stages, upRes, res, (err, bytesOut) => {
          access.bytesOut = bytesOut
          logLine(status, err ? { error: 'stream aborted' } : undefined)
        })
      })

      // Streaming upload: the upstream sees bytes as they arrive, at the pace it reads them.
      // pipe(), not pipeline(): a failed upstream must not destroy the client socket we still answer on.
      if (plan.framing.kind === 'none') {
        req.resume()
        upReq.end()
        return
      }
      let bytesIn = 0
      access.bytesIn = 0
      req.on('data', (chunk: Buffer) => {
        access.bytesIn = bytesIn += chunk.length
        arm()
      })
      upReq.on('finish', arm)
      req.pipe(upReq)
      req.on('error', () => upReq.destroy())
    },
  }
}

export type NodeProxy = ReturnType<typeof createNodeProxy>
