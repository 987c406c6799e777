import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { createJwtIssuer } from '../../src/crypto/jwt'

const SECRET = 'jwt-test-secret-key-0123456789abcdef-0123456789'
const key = new TextEncoder().encode(SECRET)
const SUB = '00000000-0000-4000-8000-000000000000'
const issuer = createJwtIssuer(SECRET, 3600)

describe('JwtIssuer.verify requires exp and sub', () => {
  it('accepts its own tokens', async () => {
    const t = await issuer.sign({ sub: SUB, username: 'ada' }, new Date())
    expect(await issuer.verify(t, new Date())).toEqual({ sub: SUB, username: 'ada' })
  })

  it.each([
    ['no exp', (j: SignJWT) => j.setSubject(SUB).setIssuedAt()],
    ['no exp and no iat', (j: SignJWT) => j.setSubject(SUB)],
    ['no sub', (j: SignJWT) => j.setIssuedAt().setExpirationTime('1h')],
    ['neither', (j: SignJWT) => j],
  ])('refuses a correctly signed HS256 token with %s, now and far in the future', async (_, build) => {
    const t = await build(new SignJWT({ username: 'ada' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })).sign(key)
    expect(await issuer.verify(t, new Date())).toBeNull()
    expect(await issuer.verify(t, new Date(Date.now() + 100 * 365 * 86_400_000))).toBeNull()
  })
})
