// "Is this Authorization header our own JWT?" over WebCrypto, for the fetch path
// (Workers). Node's proxy uses the synchronous node:crypto twin in
// src/runtime/own-credential.ts; both answer the same question the same way.

const BEARER_JWT = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/i

function fromBase64url(s: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'))
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  } catch {
    return null
  }
}

/**
 * True when an Authorization header carries a JWT signed (HS256) with our
 * SECRET_KEY: our credential, which Zenzefi must never see. Other Authorization
 * values (Zenzefi's own) pass through. HMAC verify is constant-time.
 */
export function webOwnCredentialCheck(secretKey: string): (authorization: string) => Promise<boolean> {
  const enc = new TextEncoder()
  let key: Promise<CryptoKey> | null = null
  return async (authorization) => {
    const m = BEARER_JWT.exec(authorization.trim())
    if (!m) return false
    const signature = fromBase64url(m[3]!)
    if (signature?.byteLength !== 32) return false
    key ??= crypto.subtle.importKey('raw', enc.encode(secretKey), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    return crypto.subtle.verify('HMAC', await key, signature, enc.encode(`${m[1]}.${m[2]}`))
  }
}
