// The answers the gateway gives itself on proxied paths, with the contract's
// exact `detail` messages. Every runtime and every step takes them from here.

import { REQUEST_ID_HEADER } from './request-id'

export const AUTH_REQUIRED = 'Authentication required: provide cookie or X-Access-Token header'
export const INVALID_TOKEN = 'Invalid or expired access token'
export const INVALID_QUERY_TOKEN = 'Invalid or expired access token in query parameter'
export const BAD_GATEWAY = 'Bad Gateway: Unable to reach Zenzefi server'
export const GATEWAY_TIMEOUT = 'Gateway Timeout: Zenzefi server did not respond'
export const SOURCE_MAPS_REFUSED = 'Source maps not available through proxy'
export const SERVICE_WORKERS_REFUSED = 'Service workers are not allowed through the proxy'
export const INVALID_LAUNCH_CODE = 'Invalid or expired launch code'
export const BODY_NOT_ALLOWED = 'A GET or HEAD request must not carry a body'
export const BAD_FRAMING = 'Invalid Content-Length'
export const INVALID_TARGET = 'Invalid request target'
export const ORIGIN_NOT_ALLOWED = 'Origin not allowed'
export const TOO_MANY_SOCKETS = 'Too many WebSockets open for this access token'
export const UPGRADE_REFUSED = 'Zenzefi refused the WebSocket upgrade'
/** DEVICE_LIMIT reached: says nothing about the other device. */
export const DEVICE_IN_USE = 'This access token is in use on another device; try again later'

/** An answer of ours: status, a flat [name, value, ...] header list, and a body. */
export interface Reply {
  status: number
  headers: string[]
  body: string
}

/** A `{"detail"}` answer, as every error of the API. */
export function detailReply(status: number, detail: string, headers: string[] = []): Reply {
  return { status, headers: ['Content-Type', 'application/json', ...headers], body: JSON.stringify({ detail }) }
}

/** A 429 of ours, in the contract's shape: `{"detail", "limit", "window", "retry_after"}` and `Retry-After`. */
export function limitReply(detail: string, limit: number, window: number, retryAfter: number): Reply {
  return {
    status: 429,
    headers: ['Content-Type', 'application/json', 'Retry-After', String(retryAfter)],
    body: JSON.stringify({ detail, limit, window, retry_after: retryAfter }),
  }
}

/**
 * One of our answers as it leaves for one request: with its `X-Request-Id`, and in a
 * 5xx JSON body its `request_id` (contract: "Abuse controls and observability").
 */
export function forRequest(reply: Reply, requestId: string): Reply {
  const headers: string[] = []
  for (let i = 0; i < reply.headers.length; i += 2) {
    if (reply.headers[i]!.toLowerCase() !== 'x-request-id') headers.push(reply.headers[i]!, reply.headers[i + 1]!)
  }
  headers.push(REQUEST_ID_HEADER, requestId)
  return { status: reply.status, headers, body: reply.status >= 500 ? withRequestIdField(reply.body, requestId) : reply.body }
}

/** A JSON object body with `request_id` added; any other body unchanged. */
export function withRequestIdField(body: string, requestId: string): string {
  if (!body.startsWith('{')) return body
  try {
    const parsed = JSON.parse(body) as unknown
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return body
    return JSON.stringify({ ...parsed, request_id: requestId })
  } catch {
    return body
  }
}

/** Our flat header lists as Web Headers (repeated names, e.g. Set-Cookie, stay separate). */
export function headersOf(flat: string[]): Headers {
  const headers = new Headers()
  for (let i = 0; i < flat.length; i += 2) headers.append(flat[i]!, flat[i + 1]!)
  return headers
}

/** A Reply as a Web Response (the Workers transports). */
export function replyResponse(reply: Reply): Response {
  return new Response(reply.body || null, { status: reply.status, headers: headersOf(reply.headers) })
}

export const detailResponse = (status: number, detail: string, headers: string[] = []) => replyResponse(detailReply(status, detail, headers))
