import { readFileSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Duplex, Readable } from 'node:stream'
import zlib from 'node:zlib'
import type { TokenGrant } from '../../cache/interface'
import type { Config } from '../../config'
import { decodableEncoding, downstreamResponseHeaders, type HeaderPair, type UpstreamContext, upstreamRequestHeaders } from '../../gateway/headers'
import type { LiveSessions } from '../../gateway/live-sessions'
import { BAD_GATEWAY, GATEWAY_TIMEOUT, type ProxyPlanner } from '../../gateway/proxy-plan'
import type { Logger } from '../../logger'
import { bodyKind, isIdentity } from '../../rewrite/body'
import { rewriteText } from '../../rewrite/text'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { rewriterFor } from './html-rewriter-wasm'
import { rewriteTransform } from './rewrite-stream'

/** rawHeaders [k, v, k, v] → pairs, without copying values. */
export function pairsOf(raw: string[]): HeaderPair[] {
  const out: HeaderPair[] = new Array(raw.length >> 1)
  for (let i = 0; i < raw.length; i += 2) out[i >> 1] = [raw[i]!, raw[i + 1]!]
  return out
}

/** What the upstream headers are built from on Node: the client socket, the Host it used, who the token belongs to. */
export function upstreamContext(req: IncomingMessage, target: URL, grant: TokenGrant, isOwnCredential: (authorization: string) => boolean): UpstreamContext {
  return {
    upstreamHost: target.host,
    clientIp: req.socket.remoteAddress ?? '',
    proto: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    clientHost: req.headers.host ?? null,
    userId: grant.userId,
    tokenId: grant.tokenId,
    isOwnCredential,
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

function sendJson(res: ServerResponse, status: number, detail: string) {
  if (res.headersSent) return void res.destroy()
  const body = JSON.stringify({ detail })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
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
function relay(stages: Stream[], upRes: IncomingMessage, res: ServerResponse, done: (err?: Error) => void) {
  let finished = false
  const fail = (err: Error) => {
    if (finished) return
    finished = true
    for (const s of stages) s.destroy()
    if (!res.destroyed) res.destroy()
    done(err)
  }
  let tail: NodeJS.ReadableStream = stages[0]!
  for (const s of stages.slice(1)) tail = tail.pipe(s as Duplex)
  tail.pipe(res)
  for (const s of stages) s.on('error', fail)
  // An upstream that dies mid-body ends its stream without an error on some paths: a short body must not look complete.
  upRes.on('close', () => {
    if (!upRes.complete) fail(new Error('upstream closed before the end of the body'))
  })
  res.on('finish', () => {
    if (finished) return
    finished = true
    done()
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
export function createNodeProxy(deps: {
  config: Config
  planner: ProxyPlanner
  sessions: LiveSessions
  log: Logger
  isOwnCredential: (authorization: string) => boolean
}) {
  const { config, planner, sessions, log } = deps
  const target = new URL(config.zenzefiTargetUrl)
  const transport = target.protocol === 'https:' ? https : http
  const agent = upstreamAgent(config)
  const timeoutMs = config.zenzefiTimeoutSeconds * 1000
  const basePath = target.pathname.replace(/\/+$/, '')

  return {
    agent,
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const started = performance.now()
      const rawUrl = req.url ?? '/'
      const q = rawUrl.indexOf('?')
      const fullPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
      const search = q === -1 ? '' : rawUrl.slice(q)
      const path = fullPath.slice(PROXY_PREFIX.length) || '/'
      const method = req.method ?? 'GET'
      const logLine = (status: number, extra?: Record<string, unknown>) =>
        log.info('proxy', { method, path: fullPath, status, ms: Math.round((performance.now() - started) * 10) / 10, ...extra })

      const outcome = await planner.plan({ method, path, search, header: (n) => req.headers[n] as string | undefined })
      if (outcome.kind === 'reply') {
        req.resume()
        res.writeHead(outcome.status, outcome.headers).end(outcome.body)
        logLine(outcome.status)
        return
      }

      const headers = upstreamRequestHeaders(pairsOf(req.rawHeaders), upstreamContext(req, target, outcome.grant, deps.isOwnCredential))
      const upReq = transport.request({
        agent,
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method,
        path: basePath + path + search,
        headers,
      })
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        upReq.destroy(new Error('response header timeout'))
      }, timeoutMs)
      const unregister = sessions.register(outcome.hash, outcome.grant.expiresAt, () => {
        upReq.destroy()
        res.destroy()
      })
      // The client went away (or its stream was closed on revocation): stop the upstream work too.
      res.on('close', () => {
        clearTimeout(timer)
        unregister()
        if (!res.writableFinished) upReq.destroy()
      })

      upReq.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        if (res.headersSent || res.destroyed) return void res.destroy()
        if (timedOut) {
          sendJson(res, 504, GATEWAY_TIMEOUT)
          logLine(504, { error: `no response headers within ${config.zenzefiTimeoutSeconds} s (ZENZEFI_TIMEOUT_SECONDS)` })
          return
        }
        const reason = failureReason(err)
        sendJson(res, 502, `${BAD_GATEWAY} (${reason})`)
        const fix =
          reason === 'upstream certificate not trusted'
            ? 'set ZENZEFI_CA_FILE to the PEM of the CA that signed the Zenzefi certificate (or ZENZEFI_TLS_INSECURE=true to skip verification)'
            : undefined
        log.error('upstream request failed', { method, path: fullPath, status: 502, code: err.code, error: err.message, fix })
      })

      upReq.on('response', (upRes) => {
        clearTimeout(timer)
        const status = upRes.statusCode ?? 502
        const bodyless = method === 'HEAD' || BODYLESS_STATUS.has(status)
        const encoding = decodableEncoding(upRes.headers['content-encoding'])
        const contentType = upRes.headers['content-type'] ?? null
        const small = Number(upRes.headers['content-length'] ?? Infinity)
        // A small uncompressed CSS/JS/JSON body (Zenzefi's REST answers): read whole and rewritten in one pass,
        // sent with its new Content-Length — no stream stages, no chunked encoding.
        if (!bodyless && encoding === 'identity' && small <= SMALL_TEXT_BYTES) {
          const kind = bodyKind(contentType)
          if (kind !== null && kind !== 'html' && !isIdentity(outcome.mapper)) {
            return void readSmall(upRes, (err, body) => {
              if (err || !body) {
                if (!res.destroyed) res.destroy()
                return logLine(status, { error: 'stream aborted' })
              }
              const out = Buffer.from(rewriteText(kind, body.toString('utf8'), outcome.mapper), 'utf8')
              const headers = downstreamResponseHeaders(pairsOf(upRes.rawHeaders), { mapper: outcome.mapper, rewriting: true, corsOrigin: outcome.corsOrigin })
              headers.push('Content-Length', String(out.length))
              res.writeHead(status, headers).end(out)
              logLine(status)
            })
          }
        }
        const rewriter = bodyless || encoding === null ? null : rewriterFor(contentType, outcome.mapper)
        res.writeHead(
          status,
          downstreamResponseHeaders(pairsOf(upRes.rawHeaders), { mapper: outcome.mapper, rewriting: rewriter !== null, corsOrigin: outcome.corsOrigin }),
        )
        const stages: Stream[] = [upRes]
        if (rewriter) {
          if (encoding === 'gzip') stages.push(zlib.createGunzip())
          else if (encoding === 'deflate') stages.push(zlib.createInflate())
          else if (encoding === 'br') stages.push(zlib.createBrotliDecompress())
          stages.push(rewriteTransform(rewriter))
        }
        relay(stages, upRes, res, (err) => logLine(status, err ? { error: 'stream aborted' } : undefined))
      })

      // Streaming upload: the upstream sees bytes as they arrive, at the pace it reads them.
      // pipe(), not pipeline(): a failed upstream must not destroy the client socket we still answer on.
      req.pipe(upReq)
      req.on('error', () => upReq.destroy())
    },
  }
}

export type NodeProxy = ReturnType<typeof createNodeProxy>
