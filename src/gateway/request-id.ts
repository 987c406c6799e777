// X-Request-Id (contract: "Abuse controls and observability"): on every answer, in
// every log line about the request, forwarded to Zenzefi and in our 5xx bodies. A
// client's own value is kept when it is 1–64 characters of [A-Za-z0-9_-]; anything
// else (absent, empty, longer, other characters, repeated headers) gets a fresh UUID.

export const REQUEST_ID_HEADER = 'X-Request-Id'

const ACCEPTABLE = /^[A-Za-z0-9_-]{1,64}$/

export function requestIdOf(header: string | null | undefined): string {
  return header && ACCEPTABLE.test(header) ? header : crypto.randomUUID()
}

/** What a front door decides about every request before routing it; both runtimes hand it on. */
export interface RequestMeta {
  clientIp: string
  requestId: string
  /** How the client reached us (a trusted proxy's X-Forwarded-Proto, else the socket's). */
  proto: 'http' | 'https'
}
