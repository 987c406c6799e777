// Header hygiene for both directions. Works on [name, value] pairs so Node's
// rawHeaders and Web Headers feed the same rules.

import { mapRefresh, type UrlMapper } from '../rewrite/url-mapper'
import { COOKIE_NAME, stripCookie } from './token-source'

export type HeaderPair = [string, string]

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

/** Case and `_`/`-` variants are one name, so `X_User_Id` can't slip past as a fresh header. */
const canonical = (name: string) => canonicalOf(name.toLowerCase())
/** canonical() of a name already lower-cased; most names have no `_`, and then no new string is made. */
const canonicalOf = (lower: string) => (lower.indexOf('_') === -1 ? lower : lower.replace(/_/g, '-'))

// Ours, or set by us from what we know: a client copy is dropped in any spelling.
const CLIENT_MAY_NOT_SEND = new Set([
  'host',
  'x-access-token',
  'x-local-url',
  'x-user-id',
  'x-token-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  // Addresses other proxies vouch for: from a client they are whatever it chose.
  'cf-connecting-ip',
  'true-client-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  // Set by upstream-plan to the id the front door decided (a client's value only when it was acceptable).
  'x-request-id',
])

/** Encodings we can decode before rewriting; anything else would reach the browser unrewritten. */
const ACCEPTED_ENCODINGS = ['gzip', 'deflate', 'br']

/**
 * The names a Connection header marks hop-by-hop, canonical. Never Content-Length: framing
 * is not the sender's to remove (`Connection: content-length` would otherwise leave a body
 * unframed, to be read upstream as the start of another request).
 */
function connectionListed(pairs: HeaderPair[]): ReadonlySet<string> {
  let listed: Set<string> | null = null
  for (const [n, v] of pairs) {
    if (n.length !== 10 || canonical(n) !== 'connection') continue
    for (const token of v.split(',')) {
      const name = canonical(token.trim())
      // Hop-by-hop anyway (`keep-alive`, `upgrade`), or no header name (`close`): nothing more to drop.
      if (name === '' || name === 'close' || name === 'content-length' || HOP_BY_HOP.has(name)) continue
      listed ??= new Set<string>()
      listed.add(name)
    }
  }
  return listed ?? NOTHING_LISTED
}
const NOTHING_LISTED: ReadonlySet<string> = new Set()

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'invalid' }

/**
 * How a request body is delimited, from its headers (RFC 9112 §6.3), so a transport can
 * forward it framed the same way or refuse it: any Transfer-Encoding is a chunked body (the
 * transport re-frames it; it overrides a Content-Length), else a Content-Length that is one
 * non-negative integer (repeats must agree: `5, 5`) is its length, 0 meaning no body; a
 * malformed or conflicting Content-Length is 'invalid' (refuse: peers would disagree on where
 * the body ends). `get` returns a header's value by lower-case name, repeats joined with ', '.
 */
export function requestBodyFraming(get: (name: string) => string | null | undefined): BodyFraming {
  const te = get('transfer-encoding')
  if (te !== null && te !== undefined) return { kind: 'chunked' }
  const cl = get('content-length')
  if (cl === null || cl === undefined) return { kind: 'none' }
  let length: number | null = null
  for (const part of cl.split(',')) {
    const v = part.trim()
    if (!/^\d+$/.test(v)) return { kind: 'invalid' }
    const n = Number(v)
    if (!Number.isSafeInteger(n) || (length !== null && n !== length)) return { kind: 'invalid' }
    length = n
  }
  return length === 0 ? { kind: 'none' } : { kind: 'length', length: length! }
}

/** requestBodyFraming over [name, value] pairs (names any case, repeats joined). */
function framingOf(pairs: HeaderPair[]): BodyFraming {
  let te: string | null = null
  let cl: string | null = null
  for (const [n, v] of pairs) {
    // Only these two lengths can be either name: most headers are passed over without a lower-cased copy.
    if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') te = te === null ? v : `${te}, ${v}`
    else if (n.length === 14 && n.toLowerCase() === 'content-length') cl = cl === null ? v : `${cl}, ${v}`
  }
  return requestBodyFraming((name) => (name === 'transfer-encoding' ? te : name === 'content-length' ? cl : null))
}

export interface UpstreamContext {
  upstreamHost: string
  clientIp: string
  proto: 'http' | 'https'
  /** The Host the client used, for X-Forwarded-Host. */
  clientHost: string | null
  userId: string
  tokenId: string
  /** True for an Authorization value that is our own JWT: our credential never goes upstream. */
  isOwnCredential?: (authorization: string) => boolean
}

/**
 * The request headers Zenzefi sees: no hop-by-hop, none of our credentials, identity set by us.
 * Framing: Transfer-Encoding is always dropped (the transport re-frames a chunked body) and so
 * is Content-Length beside it; otherwise one normalised Content-Length as requestBodyFraming
 * reads it (none when that is 'invalid' — the transport refuses such a request). A `_` spelling
 * of either (`Content_Length`) is dropped: some servers fold `_` into `-`.
 */
export function upstreamRequestHeaders(pairs: HeaderPair[], ctx: UpstreamContext): Record<string, string> {
  const drop = connectionListed(pairs)
  const out: Record<string, string> = {}
  for (const [rawName, value] of pairs) {
    const lower = rawName.toLowerCase()
    const name = canonicalOf(lower)
    if (HOP_BY_HOP.has(lower) || HOP_BY_HOP.has(name) || drop.has(name) || CLIENT_MAY_NOT_SEND.has(name)) continue
    if (name === 'content-length') continue // set below from the framing
    if (lower === 'cookie') {
      const kept = stripCookie(value, COOKIE_NAME)
      if (kept) out.cookie = out.cookie ? `${out.cookie}; ${kept}` : kept
      continue
    }
    if (lower === 'authorization' && ctx.isOwnCredential?.(value)) continue
    if (lower === 'accept-encoding') {
      const offered = value
        .split(',')
        .map((e) => e.split(';')[0]!.trim().toLowerCase())
        .filter((e) => ACCEPTED_ENCODINGS.includes(e))
      if (offered.length) out['accept-encoding'] = offered.join(', ')
      continue
    }
    out[lower] = out[lower] === undefined ? value : `${out[lower]}, ${value}`
  }
  const framing = framingOf(pairs)
  if (framing.kind === 'length') out['content-length'] = String(framing.length)
  else if (framing.kind === 'none' && pairs.some(([n]) => n.toLowerCase() === 'content-length')) out['content-length'] = '0'
  out.host = ctx.upstreamHost
  out['x-forwarded-for'] = ctx.clientIp
  out['x-forwarded-proto'] = ctx.proto
  if (ctx.clientHost) out['x-forwarded-host'] = ctx.clientHost
  out['x-user-id'] = ctx.userId
  out['x-token-id'] = ctx.tokenId
  return out
}

/**
 * An upstream Set-Cookie as the client must store it: no Domain (the client
 * talks to us, not to Zenzefi's host), Path under the proxy prefix in direct
 * mode. Null for a cookie named like ours: Zenzefi can't overwrite our token.
 */
export function mapSetCookie(value: string, mapper: UrlMapper): string | null {
  const parts = value.split(';')
  const name = parts[0]!.split('=')[0]!.trim()
  if (name === COOKIE_NAME) return null
  const out = [parts[0]!.trim()]
  for (const raw of parts.slice(1)) {
    const attr = raw.trim()
    const key = attr.split('=')[0]!.trim().toLowerCase()
    if (key === 'domain' || attr === '') continue
    if (key === 'path' && mapper.prefix) {
      const path = attr.slice(attr.indexOf('=') + 1).trim() || '/'
      out.push(`Path=${mapper.map(path.startsWith('/') ? path : `/${path}`)}`)
      continue
    }
    out.push(attr)
  }
  return out.join('; ')
}

export interface DownstreamOptions {
  mapper: UrlMapper
  /** The body is being rewritten: its length changes and it goes out decoded. */
  rewriting: boolean
  /** An allowed Origin to echo with credentials, or null. */
  corsOrigin: string | null
  /** This request's id: the answer carries ours, never Zenzefi's own X-Request-Id. */
  requestId?: string
}

// Cache-Control directives that let a shared cache store or serve the response.
const SHARED_CACHE_DIRECTIVES = new Set(['public', 's-maxage', 'proxy-revalidate'])
// Headers addressed to CDNs alone (RFC 9213, Cloudflare, Akamai/Fastly): they would override ours there.
const CDN_CACHE_HEADERS = new Set(['cdn-cache-control', 'cloudflare-cdn-cache-control', 'surrogate-control'])
// Lets a service worker claim a scope wider than its script's folder. Never from Zenzefi: a worker
// registered under the proxy prefix would see every later request of every page under it.
const SERVICE_WORKER_ALLOWED = 'service-worker-allowed'

/** Cache-Control's directives, split at commas outside quoted strings (`no-cache="a, b"` is one). */
function cacheDirectives(value: string): string[] {
  const out: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i <= value.length; i++) {
    const c = value[i]
    if (c === '"') quoted = !quoted
    else if (c === '\\' && quoted) i++
    else if ((c === ',' && !quoted) || i === value.length) {
      const d = value.slice(start, i).trim()
      if (d) out.push(d)
      start = i + 1
    }
  }
  return out
}

/**
 * Cache-Control for the client: what reaches a customer is paid for, so no shared cache may
 * keep it for anyone else. `public`, `s-maxage` and `proxy-revalidate` go; `private` is added
 * unless `private` or `no-store` is there (a qualified `private="field"` covers only that
 * field: it is dropped and counts for nothing). Everything else stays, in order. `values` are all
 * the upstream's Cache-Control headers (merged into one).
 */
export function privateCacheControl(values: string[]): string {
  const kept: string[] = []
  let covered = false
  for (const value of values) {
    for (const d of cacheDirectives(value)) {
      const eq = d.indexOf('=')
      const name = (eq < 0 ? d : d.slice(0, eq)).trim().toLowerCase()
      if (SHARED_CACHE_DIRECTIVES.has(name)) continue
      if (name === 'private' && eq >= 0) continue
      if (name === 'private' || name === 'no-store') covered = true
      kept.push(d)
    }
  }
  if (!covered) kept.unshift('private')
  return kept.join(', ')
}

/** Absolute URLs anywhere in a header value (Link, Content-Security-Policy, Report-To, …). */
const ABSOLUTE_URL = /(?:https?|wss?):\/\/[^\s,;<>"'`]+/gi

/** Each mapper's upstream origins, lower-cased once. */
const lowerOrigins = new WeakMap<UrlMapper, string[]>()

function mentionsUpstream(value: string, mapper: UrlMapper): boolean {
  // An origin is scheme://host: a value without `://` (nearly every header) can't hold one.
  if (!value.includes('://')) return false
  let origins = lowerOrigins.get(mapper)
  if (origins === undefined) lowerOrigins.set(mapper, (origins = mapper.upstreamOrigins.map((o) => o.toLowerCase())))
  const lower = value.toLowerCase()
  return origins.some((o) => lower.includes(o))
}

/**
 * Zenzefi's own origin in any other header becomes our public URL: no answer may tell
 * a customer where the tunnel ends. (URLs that aren't Zenzefi's come back unchanged.)
 */
function mapUpstreamUrls(value: string, mapper: UrlMapper): string {
  return value.replace(ABSOLUTE_URL, (url) => mapper.mapAbsolute(url))
}

/**
 * The response headers the client sees, as a flat [name, value, ...] list (Set-Cookie stays one
 * header per cookie). Never publicly cacheable: see privateCacheControl.
 */
export function downstreamResponseHeaders(pairs: HeaderPair[], opts: DownstreamOptions): string[] {
  const drop = connectionListed(pairs)
  const out: string[] = []
  const cacheControl: string[] = []
  let cacheControlAt = -1
  for (const [rawName, value] of pairs) {
    const name = rawName.toLowerCase()
    if (HOP_BY_HOP.has(name) || drop.has(name) || name.startsWith('access-control-') || CDN_CACHE_HEADERS.has(name) || name === SERVICE_WORKER_ALLOWED) continue
    if (opts.rewriting && (name === 'content-length' || name === 'content-encoding' || name === 'content-md5')) continue
    if (name === 'x-request-id' && opts.requestId !== undefined) continue
    switch (name) {
      case 'cache-control':
        if (cacheControlAt < 0) {
          cacheControlAt = out.length
          out.push('Cache-Control', '')
        }
        cacheControl.push(value)
        break
      case 'location':
      case 'content-location':
        out.push(rawName, opts.mapper.map(value))
        break
      case 'refresh':
        out.push(rawName, mapRefresh(value, opts.mapper))
        break
      case 'set-cookie': {
        const mapped = mapSetCookie(value, opts.mapper)
        if (mapped) out.push(rawName, mapped)
        break
      }
      default:
        out.push(rawName, mentionsUpstream(value, opts.mapper) ? mapUpstreamUrls(value, opts.mapper) : value)
    }
  }
  if (cacheControlAt < 0) out.push('Cache-Control', 'private')
  else out[cacheControlAt + 1] = privateCacheControl(cacheControl)
  if (opts.corsOrigin) out.push('Access-Control-Allow-Origin', opts.corsOrigin, 'Access-Control-Allow-Credentials', 'true', 'Vary', 'Origin')
  if (opts.requestId !== undefined) out.push('X-Request-Id', opts.requestId)
  return out
}

/** The encoding to undo before rewriting: 'identity', one we can decode, or null (can't: pass the body through). */
export function decodableEncoding(contentEncoding: string | null | undefined): 'identity' | 'gzip' | 'deflate' | 'br' | null {
  const e = (contentEncoding ?? '').trim().toLowerCase()
  if (e === '' || e === 'identity') return 'identity'
  if (e === 'gzip' || e === 'x-gzip') return 'gzip'
  if (e === 'deflate' || e === 'br') return e
  return null
}
