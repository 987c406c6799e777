// The one access line per request, the same fields from every writer (the API app,
// the Node and Workers transports, both front doors): what an operator greps for.
// Never a query string, a header value or a body: the path is the normalised path only.

import type { TokenGrant } from '../cache/interface'
import type { Fields } from '../logger'
import { parseLocalUrl } from '../rewrite/url-mapper'
import type { RequestMeta } from './request-id'

/** `api` for the JSON API (and the front door's own refusals), `account` for the account page, `direct`/`desktop` for proxied traffic (desktop: a loopback X-Local-Url). */
export type AccessMode = 'api' | 'account' | 'direct' | 'desktop'

export interface Access {
  method: string
  /** Without the query string. */
  path: string
  status: number
  /** performance.now() when the request arrived. */
  started: number
  meta: RequestMeta
  mode: AccessMode
  /** Proxied: ms until Zenzefi's response headers. */
  upstreamMs?: number | null
  /** Request and response body bytes, where cheap to know (Content-Length, or counted as they pass). */
  bytesIn?: number | null
  bytesOut?: number | null
  /** Once authorized (proxied) or authenticated (API). */
  grant?: Pick<TokenGrant, 'userId' | 'tokenId'> | null
  userId?: string | null
}

const tenths = (ms: number) => Math.round(ms * 10) / 10

/** The access line's fields; `extra` (error, close code…) goes after them. Absent values are left out. */
export function accessFields(a: Access, extra?: Fields): Fields {
  return {
    method: a.method,
    path: a.path,
    status: a.status,
    ms: tenths(performance.now() - a.started),
    upstream_ms: a.upstreamMs == null ? undefined : tenths(a.upstreamMs),
    bytes_in: a.bytesIn ?? undefined,
    bytes_out: a.bytesOut ?? undefined,
    client_ip: a.meta.clientIp,
    user_id: a.grant?.userId ?? a.userId ?? undefined,
    token_id: a.grant?.tokenId ?? undefined,
    mode: a.mode,
    request_id: a.meta.requestId,
    ...extra,
  }
}

/** A proxied request's mode from its X-Local-Url, as the URL mapper decides it. */
export function proxyModeOf(localUrlHeader: string | string[] | null | undefined): AccessMode {
  // Repeated, it is no one origin: direct mode, as the mapper decides.
  return typeof localUrlHeader === 'string' && parseLocalUrl(localUrlHeader) ? 'desktop' : 'direct'
}

/** A Content-Length as a byte count, or null when absent or not one number. */
export function contentLengthOf(value: string | null | undefined): number | null {
  if (value == null || !/^\d+$/.test(value)) return null
  const n = Number(value)
  return Number.isSafeInteger(n) ? n : null
}

const encoder = new TextEncoder()
/** A string's size in UTF-8 bytes (our own small reply bodies). */
export const utf8Length = (text: string): number => encoder.encode(text).byteLength
