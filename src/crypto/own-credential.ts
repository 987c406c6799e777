// "Does this Authorization header carry our own JWT?" over WebCrypto, for the fetch
// path (Workers). Node's proxy uses the synchronous node:crypto twin in
// src/runtime/node/own-credential.ts; both read the header with the same parser
// (src/http/authorization.ts) and give the same answers.

import { jwtCandidates } from '../http/authorization'

/** base64url (no padding) to bytes; the parser only hands over well-formed signatures. */
function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/**
 * True when any whitespace- or comma-separated piece of an Authorization value is
 * a JWT signed (HS256) with our SECRET_KEY, expired or not: our credential, which
 * Zenzefi must never see (`Bearer <jwt>`, `bearer  <jwt> extra`, `Basic x, Bearer <jwt>`,
 * a bare `<jwt>`). Other Authorization values (Zenzefi's own) pass through.
 * HMAC verify is constant-time; every candidate is checked.
 */
export function webOwnCredentialCheck(secretKey: string): (authorization: string) => Promise<boolean> {
  const enc = new TextEncoder()
  let key: Promise<CryptoKey> | null = null
  return async (authorization) => {
    const candidates = jwtCandidates(authorization)
    if (candidates.length === 0) return false
    key ??= crypto.subtle.importKey('raw', enc.encode(secretKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    const k = await key
    const verdicts = await Promise.all(candidates.map((c) => crypto.subtle.verify('HMAC', k, fromBase64url(c.signature), enc.encode(c.signingInput))))
    return verdicts.includes(true)
  }
}
