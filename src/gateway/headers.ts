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
const canonical = (name: string) => name.toLowerCase().replace(/_/g, '-')

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
])

/** Encodings we can decode before rewriting; anything else would reach the browser unrewritten. */
const ACCEPTED_ENCODINGS = ['gzip', 'deflate', 'br']

function connectionListed(pairs: HeaderPair[]): Set<string> {
  const listed = new Set<string>()
  for (const [n, v] of pairs) {
    if (n.toLowerCase() === 'connection') for (const token of v.split(',')) listed.add(canonical(token.trim()))
  }
  return listed
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

/** The request headers Zenzefi sees: no hop-by-hop, none of our credentials, identity set by us. */
export function upstreamRequestHeaders(pairs: HeaderPair[], ctx: UpstreamContext): Record<string, string> {
  const drop = connectionListed(pairs)
  const out: Record<string, string> = {}
  for (const [rawName, value] of pairs) {
    const lower = rawName.toLowerCase()
    const name = canonical(rawName)
    if (HOP_BY_HOP.has(lower) || HOP_BY_HOP.has(name) || drop.has(name) || CLIENT_MAY_NOT_SEND.has(name)) continue
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
}

/** The response headers the client sees, as a flat [name, value, ...] list (Set-Cookie stays one header per cookie). */
export function downstreamResponseHeaders(pairs: HeaderPair[], opts: DownstreamOptions): string[] {
  const drop = connectionListed(pairs)
  const out: string[] = []
  for (const [rawName, value] of pairs) {
    const name = rawName.toLowerCase()
    if (HOP_BY_HOP.has(name) || drop.has(name) || name.startsWith('access-control-')) continue
    if (opts.rewriting && (name === 'content-length' || name === 'content-encoding' || name === 'content-md5')) continue
    switch (name) {
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
        out.push(rawName, value)
    }
  }
  if (opts.corsOrigin) out.push('Access-Control-Allow-Origin', opts.corsOrigin, 'Access-Control-Allow-Credentials', 'true', 'Vary', 'Origin')
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
