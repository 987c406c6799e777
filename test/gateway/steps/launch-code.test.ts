// `?launch=<code>` ("Open Zenzefi" on the account page) on the real Node server, against a
// real upstream: the code is spent once for the 303 with the access cookie, as `?token=` is.
import { describe, expect, it } from 'vitest'
import { AUTH_REQUIRED, INVALID_LAUNCH_CODE } from '../../../src/gateway/answers'
import { LAUNCH_CODE_SECONDS } from '../../../src/services/launch-codes'
import { customer, gatewayFixture } from '../../support/gateway'
import { recordSecret } from '../../support/log-scan'
import { openWebSocket, until } from '../../support/ws-client'

const BACKEND = 'http://gw.example.test:8080'
const PROXY = '/api/v1/proxy'
const f = gatewayFixture({ BACKEND_URL: BACKEND })

/** A customer with a bought (unused) token and a fresh launch code for it. */
async function launchable(hours = 24) {
  const c = await customer(f.gw.t, hours)
  const code = await issue(c)
  return { ...c, code }
}

async function issue(c: { user: { id: string }; tokenId: string }) {
  const code = await f.gw.t.services.launchCodes.issue(c.user.id, c.tokenId, { actorType: 'user', actorId: c.user.id })
  // The secret scan (test/support/log-scan.setup.ts) fails this file if any log line holds it.
  recordSecret(code, 'launch code')
  return code
}

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${f.gw.url}${PROXY}${path}`, { redirect: 'manual', headers })

async function mine(jwt: string, tokenId: string) {
  const list = (await (await f.gw.t.request('/api/v1/tokens/my-tokens', { bearer: jwt })).json()) as {
    id: string
    activated_at: string | null
    expires_at: string | null
  }[]
  return list.find((t) => t.id === tokenId)!
}

async function refusedWithDetail(res: Response) {
  expect(res.status).toBe(401)
  expect(await res.json()).toEqual({ detail: INVALID_LAUNCH_CODE })
}

describe('?launch=', () => {
  it('a fresh code → 303 to the same URL without `launch`, the access cookie for its token, no-store; the clock does not start', async () => {
    const { code, token, tokenId, jwt } = await launchable(24)
    const res = await get(`/some/page?launch=${code}&x=1`)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`${BACKEND}${PROXY}/some/page?x=1`)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const [access, device, ...rest] = res.headers.getSetCookie()
    expect(access).toBe(`zenzefi_access_token=${token}; HttpOnly; Path=/; Max-Age=86400; SameSite=lax`)
    expect(device).toMatch(/^zenzefi_device=[A-Za-z0-9_-]{32}; /)
    expect(rest).toEqual([])
    expect(await mine(jwt, tokenId)).toMatchObject({ activated_at: null, expires_at: null })
  })

  it('following the 303 with the cookie reaches Zenzefi, which never sees `launch`; that page starts the clock', async () => {
    const { code, token, tokenId, jwt } = await launchable()
    f.up.on((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('the page'))
    const before = f.up.received.length
    const redirect = await get(`/some/page?launch=${code}&x=1`)
    expect(redirect.status).toBe(303)
    expect(f.up.received.length).toBe(before)
    // As the browser would: the cookies it was given, to the Location (BACKEND_URL is this gateway).
    const cookie = redirect.headers.getSetCookie().map((c) => c.split(';')[0]!)
    const location = redirect.headers.get('location')!.replace(BACKEND, f.gw.url)
    const page = await fetch(location, { redirect: 'manual', headers: { cookie: cookie.join('; ') } })
    expect(page.status).toBe(200)
    expect(await page.text()).toBe('the page')
    expect(f.up.received.slice(before).map((r) => r.url)).toEqual(['/some/page?x=1'])
    expect(f.up.last().headers.cookie ?? '').not.toContain(token)
    const row = await mine(jwt, tokenId)
    expect(row.activated_at).not.toBeNull()
    expect(row.expires_at).not.toBeNull()
  })

  it('a code is good once: the second use → 401', async () => {
    const { code } = await launchable()
    expect((await get(`/a?launch=${code}`)).status).toBe(303)
    await refusedWithDetail(await get(`/a?launch=${code}`))
  })

  it(`a code is good for ${LAUNCH_CODE_SECONDS} s by the gateway's clock`, async () => {
    const c = await customer(f.gw.t)
    const young = await issue(c)
    f.gw.t.clock.advance((LAUNCH_CODE_SECONDS - 1) * 1000)
    expect((await get(`/a?launch=${young}`)).status).toBe(303)
    const old = await issue(c)
    f.gw.t.clock.advance(LAUNCH_CODE_SECONDS * 1000 + 1)
    await refusedWithDetail(await get(`/a?launch=${old}`))
  })

  it('garbage, an unknown well-formed code and an empty one → 401; Zenzefi is never asked', async () => {
    const before = f.up.received.length
    for (const code of ['nope', 'A'.repeat(64), '', '%E0%A4%A']) await refusedWithDetail(await get(`/a?launch=${code}`))
    await refusedWithDetail(await get('/a?x=1&launch'))
    expect(f.up.received.length).toBe(before)
  })

  it('a code for a token revoked since → 401', async () => {
    const c = await launchable()
    expect((await f.gw.t.request(`/api/v1/tokens/${c.tokenId}`, { method: 'DELETE', bearer: c.jwt })).status).toBe(200)
    await refusedWithDetail(await get(`/a?launch=${c.code}`))
  })

  it('two tabs racing with one code: one 303, one 401', async () => {
    const { code } = await launchable()
    const both = await Promise.all([get(`/a?launch=${code}`), get(`/a?launch=${code}`)])
    expect(both.map((r) => r.status).sort()).toEqual([303, 401])
    await refusedWithDetail(both.find((r) => r.status === 401)!)
  })

  it('any spelling that decodes to `launch` is ours: spent, and gone from the Location', async () => {
    const { code } = await launchable()
    const res = await get(`/a?%6Caunch=${code}&b=2`)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`${BACKEND}${PROXY}/a?b=2`)
  })

  it('with `?token=` beside it, the 303 carries neither', async () => {
    const { code, token } = await launchable()
    const res = await get(`/a?token=${token}&launch=${code}&b=2`)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`${BACKEND}${PROXY}/a?b=2`)
  })

  it('on a WebSocket upgrade it is no credential: 401 "Authentication required", and the code is not spent', async () => {
    const { code } = await launchable()
    const refused = await openWebSocket(`${f.gw.url.replace(/^http/, 'ws')}${PROXY}/ws?launch=${code}`).then(
      (ws) => {
        ws.terminate()
        throw new Error('upgrade unexpectedly succeeded')
      },
      (e: { status?: number; body?: string }) => e,
    )
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.body!)).toEqual({ detail: AUTH_REQUIRED })
    expect((await get(`/a?launch=${code}`)).status).toBe(303)
  })

  it('the access lines name the path, never the code', async () => {
    const { code } = await launchable()
    const from = f.gw.t.logs.length
    expect((await get(`/logged/launch?launch=${code}`)).status).toBe(303)
    await until(() => f.gw.t.logs.slice(from).some((l) => l.includes(`${PROXY}/logged/launch`)))
    expect(f.gw.t.logs.slice(from).join('\n')).not.toContain(code)
  })
})
