import { describe, expect, it } from 'vitest'
import { detailReply } from '../../src/gateway/answers'
import { createPipeline, type ProxyRequest, type Step } from '../../src/gateway/pipeline'
import { appFixture } from '../support/harness'

const request = (kind: ProxyRequest['kind'], headers: Record<string, string> = {}): ProxyRequest => ({
  kind,
  method: 'GET',
  path: '/x',
  search: '',
  header: (n) => headers[n],
  headerPairs: () => Object.entries(headers),
  clientIp: '127.0.0.1',
  requestId: 'test-request-id',
  proto: 'http',
})

describe('the pipeline runner', () => {
  it('runs steps in order, stops at the first that answers, and names it', async () => {
    const ran: string[] = []
    const step = (name: string, answer?: number, on?: Step['on']): Step => ({
      name,
      on,
      run: () => {
        ran.push(name)
        return answer ? detailReply(answer, name) : undefined
      },
    })
    const p = createPipeline([step('a'), step('b', undefined, 'websocket'), step('c', 418), step('d')], () => null)
    const out = await p.run(request('http'))
    expect(ran).toEqual(['a', 'c'])
    expect(out).toMatchObject({ kind: 'reply', step: 'c', reply: { status: 418, body: '{"detail":"c"}' } })
  })

  it('awaits asynchronous steps, and a request no step answered must leave a plan', async () => {
    const p = createPipeline([{ name: 'later', run: async () => detailReply(401, 'no') }], () => null)
    expect(await p.run(request('websocket'))).toMatchObject({ kind: 'reply', step: 'later' })
    await expect(createPipeline([], () => null).run(request('http'))).rejects.toThrow(/without an upstream plan/)
  })
})

describe("the gateway's pipeline", () => {
  const f = appFixture()

  it('has its steps in the documented order (docs/architecture.md)', () => {
    expect(f.t.gateway.pipeline.names).toEqual([
      'preflight',
      'body-framing',
      'source-maps',
      'service-worker',
      'query-token',
      'launch-code',
      'token-source',
      'websocket-origin',
      'authorize',
      'rate-limit',
      'device-session',
      'websocket-cap',
      'upstream-plan',
    ])
  })

  it('answers a preflight itself, echoing only an allowed origin', async () => {
    const ok = await f.t.gateway.pipeline.run({
      ...request('http', { origin: 'https://127.0.0.1:61000', 'access-control-request-method': 'PUT' }),
      method: 'OPTIONS',
    })
    expect(ok).toMatchObject({ kind: 'reply', step: 'preflight', reply: { status: 204 } })
    expect(ok.kind === 'reply' && ok.reply.headers).toContain('https://127.0.0.1:61000')
    const foreign = await f.t.gateway.pipeline.run({
      ...request('http', { origin: 'https://evil.example', 'access-control-request-method': 'PUT' }),
      method: 'OPTIONS',
    })
    expect(foreign.kind === 'reply' && foreign.reply.headers).toEqual(['X-Request-Id', 'test-request-id'])
  })
})
