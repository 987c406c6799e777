import { createHmac, timingSafeEqual } from 'node:crypto'
import { jwtCandidates } from '../../http/authorization'

/**
 * True when any whitespace- or comma-separated piece of an Authorization value is
 * a JWT signed (HS256) with our SECRET_KEY, expired or not: our credential, which
 * Zenzefi must never see. Same parser and same answers as the WebCrypto twin in
 * src/crypto/own-credential.ts; synchronous (one HMAC per candidate) because it
 * runs on the proxy path. Other Authorization values pass through.
 */
export function ownCredentialCheck(secretKey: string): (authorization: string) => boolean {
  return (authorization) => {
    let own = false
    for (const { signingInput, signature } of jwtCandidates(authorization)) {
      const expected = createHmac('sha256', secretKey).update(signingInput).digest()
      const given = Buffer.from(signature, 'base64url')
      // Every candidate is compared in full (no early exit), each in constant time.
      if (given.length === expected.length && timingSafeEqual(given, expected)) own = true
    }
    return own
  }
}
