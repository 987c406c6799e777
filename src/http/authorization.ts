// The one reading of an Authorization header, shared by the API (which accepts
// exactly `Bearer <credential>`) and the proxy (which must recognise our JWT
// anywhere in the header so it never reaches Zenzefi). Pure: no platform APIs.

/** RFC 7235 token68: what a Bearer credential may be made of. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

export type BearerReading = { credential: string } | { refused: 'not_authenticated' | 'invalid_credentials' }

/**
 * The API's rule: `Bearer` (any case) and one token68 credential, surrounding
 * whitespace allowed. No header, another scheme, or no credential: not
 * authenticated (403). Anything else after the credential, or a credential that
 * is not token68: invalid credentials (401) — never "the second word".
 */
export function readBearer(authorization: string | null | undefined): BearerReading {
  const words = (authorization ?? '').trim().split(/\s+/)
  if (words[0]?.toLowerCase() !== 'bearer' || words.length < 2) return { refused: 'not_authenticated' }
  const credential = words[1]!
  if (words.length > 2 || !TOKEN68.test(credential)) return { refused: 'invalid_credentials' }
  return { credential }
}

/** Every whitespace- or comma-separated piece of an Authorization value (`Basic x, Bearer y` → Basic, x, Bearer, y). */
export function authorizationPieces(authorization: string): string[] {
  return authorization.split(/[\s,]+/).filter((p) => p !== '')
}

/**
 * A piece shaped like an HS256 JWT: three dot-separated segments, the last the
 * 43 base64url characters of a SHA-256 HMAC (jose also takes one `=` of padding).
 * Header and payload are taken as written, since they are what was signed.
 */
const HS256_JWT = /^([A-Za-z0-9_\-+/=]+\.[A-Za-z0-9_\-+/=]+)\.([A-Za-z0-9_-]{43})=?$/

export interface JwtCandidate {
  /** `header.payload`, the bytes the signature covers. */
  signingInput: string
  /** The signature, base64url without padding (always 32 bytes decoded). */
  signature: string
}

/** The pieces of an Authorization value that could be an HS256 JWT, for an own-credential check to verify. */
export function jwtCandidates(authorization: string): JwtCandidate[] {
  const out: JwtCandidate[] = []
  for (const piece of authorizationPieces(authorization)) {
    const m = HS256_JWT.exec(piece)
    if (m) out.push({ signingInput: m[1]!, signature: m[2]! })
  }
  return out
}
