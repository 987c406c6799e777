// The secret scan's matching (the setup file runs it after every test file).
import { describe, expect, it } from 'vitest'
import { leaks } from './log-scan'

const TOKEN = `${'A'.repeat(30)}${'_-b'.repeat(11)}z`
const secrets = new Map([
  [TOKEN, 'access token'],
  ['correct "horse" battery', 'password'],
])

describe('leaks', () => {
  it('finds a secret as written or JSON-escaped, and names what it was without repeating it', () => {
    const found = leaks(['{"msg":"ok"}', `{"msg":"authorize ${TOKEN}"}`, JSON.stringify({ p: 'correct "horse" battery' })], secrets)
    expect(found.map((l) => l.what)).toEqual(['access token', 'password'])
    expect(found.join('\n')).not.toContain(TOKEN)
    expect(found[0]!.line).toContain('authorize <access token>')
  })

  it('clean lines pass', () => {
    expect(leaks(['{"msg":"request","path":"/api/v1/proxy/x","request_id":"abc"}'], secrets)).toEqual([])
  })
})
