import { createHmac, timingSafeEqual } from 'node:crypto'

const BEARER_JWT = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/i

/**
 * True when an Authorization header carries a JWT signed with our SECRET_KEY:
 * our credential, which Zenzefi must never see. Synchronous (one HMAC) because
 * it runs on the proxy path; other Authorization values pass through.
 */
export function ownCredentialCheck(secretKey: string): (authorization: string) => boolean {
  return (authorization) => {
    const m = BEARER_JWT.exec(authorization.trim())
    if (!m) return false
    const expected = createHmac('sha256', secretKey).update(`${m[1]}.${m[2]}`).digest()
    const given = Buffer.from(m[3]!, 'base64url')
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
}
