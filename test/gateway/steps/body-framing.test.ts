import { describe, expect, it } from 'vitest'
import { BAD_FRAMING, BODY_NOT_ALLOWED } from '../../../src/gateway/answers'
import { createPipeline, type ProxyState } from '../../../src/gateway/pipeline'
import { bodyFraming } from '../../../src/gateway/steps/body-framing'
import { proxyRequest } from './request'

/** The step alone, then a probe that records the framing it decided. */
async function run(req: ReturnType<typeof proxyRequest>) {
  let seen: ProxyState['framing'] | null = null
  const out = await createPipeline([bodyFraming(), { name: 'probe', run: (s) => void (seen = s.framing) }], () => null)
    .run(req)
    .catch(() => null)
  return { reply: out?.kind === 'reply' ? out.reply : null, framing: seen }
}

describe('body-framing', () => {
  it.each([
    ['GET', { 'content-length': '5' }],
    ['GET', { 'transfer-encoding': 'chunked' }],
    ['HEAD', { 'Transfer-Encoding': 'gzip, chunked' }],
    ['HEAD', { 'content-length': '1' }],
  ])('%s with %o is refused with 400', async (method, headers) => {
    const { reply } = await run(proxyRequest({ method, headers }))
    expect(reply).toMatchObject({ status: 400, body: JSON.stringify({ detail: BODY_NOT_ALLOWED }) })
  })

  it('a GET with Content-Length: 0 has no body and goes on', async () => {
    expect(await run(proxyRequest({ headers: { 'content-length': '0' } }))).toEqual({ reply: null, framing: { kind: 'none' } })
  })

  it('other methods keep their framing for the transport: length or chunked', async () => {
    expect((await run(proxyRequest({ method: 'POST', headers: { 'content-length': '12' } }))).framing).toEqual({ kind: 'length', length: 12 })
    expect((await run(proxyRequest({ method: 'DELETE', headers: { 'transfer-encoding': 'chunked' } }))).framing).toEqual({ kind: 'chunked' })
    expect((await run(proxyRequest({ method: 'OPTIONS' }))).framing).toEqual({ kind: 'none' })
  })

  it('a Content-Length that can’t be trusted is refused', async () => {
    for (const value of ['abc', '-1', '5, 6', '1e3']) {
      const { reply } = await run(proxyRequest({ method: 'POST', headers: { 'content-length': value } }))
      expect(reply?.status, value).toBe(400)
      expect(reply?.body).toBe(JSON.stringify({ detail: BAD_FRAMING }))
    }
  })

  it('does not apply to WebSocket upgrades', async () => {
    expect((await run(proxyRequest({ kind: 'websocket', headers: { 'content-length': '5' } }))).reply).toBeNull()
  })
})
