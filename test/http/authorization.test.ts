import { describe, expect, it } from 'vitest'
import { authorizationPieces, jwtCandidates, readBearer } from '../../src/http/authorization'

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE'

describe('readBearer: the API accepts `Bearer` and exactly one credential', () => {
  it.each([
    ['Bearer x', 'x'],
    [`Bearer ${JWT}`, JWT],
    [`bearer ${JWT}`, JWT],
    [`BEARER ${JWT}`, JWT],
    [`  Bearer \t  ${JWT}  \t`, JWT],
    ['Bearer abc+/=', 'abc+/='],
  ])('%j → the credential', (header, credential) => {
    expect(readBearer(header)).toEqual({ credential })
  })

  it.each([undefined, null, '', '   ', 'Bearer', 'Bearer   ', 'Basic dXNlcjpwYXNz', `Token ${JWT}`, `${JWT}`, `Bearer, ${JWT}`, `Bearerx ${JWT}`])(
    '%j → not authenticated (403)',
    (header) => {
      expect(readBearer(header)).toEqual({ refused: 'not_authenticated' })
    },
  )

  it.each([
    `Bearer ${JWT} extra`,
    `Bearer ${JWT} ${JWT}`,
    `Bearer ${JWT}, Basic x`,
    `Bearer ${JWT},`,
    `Bearer a b c`,
    'Bearer a,b',
    'Bearer a"b',
    'Bearer =abc',
    'Bearer é',
  ])('%j → invalid credentials (401): nothing may follow the credential, and it is token68', (header) => {
    expect(readBearer(header)).toEqual({ refused: 'invalid_credentials' })
  })
})

describe('authorizationPieces / jwtCandidates: what the own-credential checks look at', () => {
  it('splits on any whitespace and commas', () => {
    expect(authorizationPieces(' Basic x,Bearer\ty ,, z\n')).toEqual(['Basic', 'x', 'Bearer', 'y', 'z'])
  })

  it.each([`Bearer ${JWT}`, `bearer   ${JWT}`, `Bearer ${JWT} extra`, `Basic x, Bearer ${JWT}`, JWT, `${JWT},`, `Bearer ${JWT}=`, `x\t${JWT}\ty`])(
    'finds the JWT in %j',
    (header) => {
      const [header64, payload64, signature] = JWT.split('.')
      expect(jwtCandidates(header)).toEqual([{ signingInput: `${header64}.${payload64}`, signature }])
    },
  )

  it.each(['', 'Basic dXNlcjpwYXNz', 'Bearer a.b', 'Bearer a.b.c', `Bearer ${JWT}x`, `Bearer ${JWT.slice(0, -1)}`, `Bearer a.b.${JWT}`])(
    'finds nothing JWT-shaped in %j',
    (header) => {
      expect(jwtCandidates(header)).toEqual([])
    },
  )
})
