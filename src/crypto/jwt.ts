import { jwtVerify, SignJWT } from 'jose'

export interface JwtClaims {
  sub: string
  username: string
}

export interface JwtIssuer {
  sign(claims: JwtClaims, now: Date): Promise<string>
  /** The claims, or null for anything not signed by us with HS256, unexpired, with both `sub` and `exp`. */
  verify(token: string, now: Date): Promise<JwtClaims | null>
}

export function createJwtIssuer(secretKey: string, lifetimeSeconds: number): JwtIssuer {
  const key = new TextEncoder().encode(secretKey)
  return {
    async sign({ sub, username }, now) {
      const iat = Math.floor(now.getTime() / 1000)
      return new SignJWT({ username })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(sub)
        .setIssuedAt(iat)
        .setExpirationTime(iat + lifetimeSeconds)
        .sign(key)
    },
    async verify(token, now) {
      try {
        // Without `exp` a token would be valid forever, without `sub` it names no one: both are required.
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], currentDate: now, requiredClaims: ['exp', 'sub'] })
        if (typeof payload.sub !== 'string' || typeof payload.username !== 'string') return null
        return { sub: payload.sub, username: payload.username }
      } catch {
        return null
      }
    },
  }
}
