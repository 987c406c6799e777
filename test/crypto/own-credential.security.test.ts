import { SignJWT } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { createJwtIssuer } from '../../src/crypto/jwt'
import { webOwnCredentialCheck } from '../../src/crypto/own-credential'
import { readBearer } from '../../src/http/authorization'
import { ownCredentialCheck } from '../../src/runtime/node/own-credential'

// Both implementations (node:crypto for Node's proxy, WebCrypto for the fetch path)
// must recognise our JWT wherever it sits in an Authorization value, and agree on every input.
const SECRET = 'own-credential-test-secret-key-0123456789abcdef'
const node = ownCredentialCheck(SECRET)
const web = webOwnCredentialCheck(SECRET)
const both = async (value: string) => [node(value), await web(value)]

let jwt: string
let expired: string
let foreign: string
beforeAll(async () => {
  const issuer = createJwtIssuer(SECRET, 3600)
  jwt = await issuer.sign({ sub: '00000000-0000-4000-8000-000000000000', username: 'ada' }, new Date())
  expired = await issuer.sign({ sub: '00000000-0000-4000-8000-000000000000', username: 'ada' }, new Date(Date.now() - 86_400_000))
  foreign = await new SignJWT({ username: 'x' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('s')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('somebody-elses-secret-key-0123456789abcdef'))
})

/** Every way of writing our JWT into an Authorization value; each must be recognised. */
const spellings = (t: string) => [
  `Bearer ${t}`,
  `bearer ${t}`,
  `BEARER   ${t}`,
  `  Bearer\t${t}  `,
  `Bearer ${t} extra`,
  `Bearer ${t}, Basic dXNlcjpwYXNz`,
  `Basic x, Bearer ${t}`,
  `Basic dXNlcjpwYXNz,Bearer ${t}`,
  t,
  `${t},`,
  `Token ${t}`,
  `Bearer x ${t}`,
  `Bearer ${t}=`,
  `Bearer ${foreign} ${t}`,
]

describe('own-credential checks (node:crypto and WebCrypto)', () => {
  it('recognise our JWT in every spelling, both implementations', async () => {
    for (const value of spellings(jwt)) expect(await both(value), value).toEqual([true, true])
  })

  it('recognise it expired too: it is still ours', async () => {
    for (const value of spellings(expired)) expect(await both(value), value).toEqual([true, true])
  })

  it('pass on anything not signed with our key, both implementations agreeing', async () => {
    const [h, p, s] = jwt.split('.') as [string, string, string]
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
    const others = [
      '',
      'Basic dXNlcjpwYXNz',
      'Bearer zenzefi-own-token',
      ...spellings(foreign),
      `Bearer ${h}.${p}.${flipped}`,
      `Bearer ${h}.${p}x.${s}`,
      `Bearer ${h}.${p}`,
      `Bearer ${h}.${p}.${s}x`,
      `Bearer ${h}.${p}.${s.slice(0, -1)}`,
      `Bearer ${h}${p}${s}`,
    ]
    for (const value of others) expect(await both(value), value).toEqual([false, false])
  })

  it('whatever the API would accept as a Bearer credential is recognised (no JWT reaches Zenzefi that the API takes)', async () => {
    const issuer = createJwtIssuer(SECRET, 3600)
    for (const value of [...spellings(jwt), `Bearer ${jwt}`, `bearer\t${jwt}`, `Bearer ${jwt}=`]) {
      const reading = readBearer(value)
      if (!('credential' in reading)) continue
      if ((await issuer.verify(reading.credential, new Date())) === null) continue
      expect(await both(value), value).toEqual([true, true])
    }
  })
})
