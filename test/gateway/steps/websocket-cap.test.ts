import { describe, expect, it } from 'vitest'
import { TOO_MANY_SOCKETS } from '../../../src/gateway/answers'
import { appFixture, purchase, signUp } from '../../support/harness'
import { proxyRequest } from './request'

const f = appFixture({ WS_MAX_PER_TOKEN: '2' })

describe('websocket-cap', () => {
  it('counts only this token’s open WebSockets, not its downloads, and frees a place when one closes', async () => {
    const { jwt } = await signUp(f.t)
    const token = await purchase(f.t, jwt)
    const upgrade = () => f.t.gateway.pipeline.run(proxyRequest({ kind: 'websocket', headers: { 'x-access-token': token.token } }))
    const first = await upgrade()
    if (first.kind !== 'forward') throw new Error('refused')
    const { sessions } = f.t.gateway
    const closeA = sessions.register(first.plan.hash, null, () => {}, 'websocket')
    sessions.register(first.plan.hash, null, () => {}, 'stream')
    expect((await upgrade()).kind).toBe('forward')
    sessions.register(first.plan.hash, null, () => {}, 'websocket')
    const refused = await upgrade()
    expect(refused).toMatchObject({ kind: 'reply', step: 'websocket-cap', reply: { status: 429, body: JSON.stringify({ detail: TOO_MANY_SOCKETS }) } })
    expect(refused.kind === 'reply' && refused.reply.headers).toContain('Retry-After')
    // Plain HTTP through the same token is not capped by its sockets.
    expect((await f.t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token.token } }))).kind).toBe('forward')
    closeA()
    expect((await upgrade()).kind).toBe('forward')
  })
})

describe('websocket-cap with RATE_LIMITS=off', () => {
  const off = appFixture({ WS_MAX_PER_TOKEN: '1', RATE_LIMITS: 'off' })

  it('is lifted with the other limits (load tests open many sockets on one token)', async () => {
    const { jwt } = await signUp(off.t)
    const token = await purchase(off.t, jwt)
    const upgrade = () => off.t.gateway.pipeline.run(proxyRequest({ kind: 'websocket', headers: { 'x-access-token': token.token } }))
    const first = await upgrade()
    if (first.kind !== 'forward') throw new Error('refused')
    for (let i = 0; i < 3; i++) off.t.gateway.sessions.register(first.plan.hash, null, () => {}, 'websocket')
    expect((await upgrade()).kind).toBe('forward')
  })
})
