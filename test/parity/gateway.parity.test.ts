// One black-box suite, two runtimes: the Node server (`npm start`) and the built
// worker bundle in Miniflare (`npm run start:worker`). Nothing here reaches into
// either process: only HTTP (fetch) and WebSocket (`ws`) against a base URL.
//
// Both targets get the same plain-HTTP Zenzefi stand-in. Zenzefi's real setup is
// HTTPS with a self-signed certificate, but workerd's fetch can't be handed a CA
// per request the way Node's agent can (start:worker passes ZENZEFI_CA_FILE to
// Miniflare's outbound trust store instead; start-worker.test.ts covers that), so
// the shared upstream is HTTP and TLS to Zenzefi stays out of the parity claim.
//
// Redis: REDIS_URL, or a redis-server of this file's own when that is installed;
// Node speaks to it directly, the worker through the Upstash REST bridge.

import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { recordSecret } from '../support/log-scan'
import { PRICED } from '../support/money'
import { type PlainUpstream, startPlainUpstream } from '../support/plain-upstream'
import { startRedisServer } from '../support/redis-server'
import { services } from '../support/services'
import { closed, echoes, nextMessage, openWebSocket as open, until } from '../support/ws-client'
import { deadUpstreamUrl, nodeTarget, type Target, type TargetKind, workerTarget } from './targets'
import { curlLike, eventually, parseResponse, rawExchange, startSilentServer, startZenzefi, type Zenzefi } from './zenzefi'

const BACKEND = 'http://gw.parity.test:8080'
const PREFIX = '/api/v1/proxy'
const AUTH_REQUIRED = 'Authentication required: provide cookie or X-Access-Token header'
const INVALID = 'Invalid or expired access token'
const COOKIE = 'zenzefi_access_token'
const TIMEOUT_S = 1

const targets: TargetKind[] = [nodeTarget, workerTarget]
for (const t of targets) if (t.unavailable) console.log(`[parity] skipped: the ${t.name} target — ${t.unavailable}`)

let redis: Awaited<ReturnType<typeof startRedisServer>> | null = null
let redisUrl: string | null = null
beforeAll(async () => {
  redisUrl = process.env.REDIS_URL || null
  const binary = services().redisServerBinary
  if (!redisUrl && binary && targets.some((t) => !t.unavailable)) {
    redis = await startRedisServer(binary)
    redisUrl = redis.url
  }
  if (!redisUrl) console.log('[parity] no Redis (REDIS_URL unset, no redis-server installed): each target uses its in-process cache only')
})
afterAll(async () => {
  await redis?.kill()
})

/** What each target answered for the same page, compared at the end. */
const pages = new Map<string, string>()

describe.each(targets)('$name', (kind) => {
  if (kind.unavailable) {
    it.skip(`skipped: ${kind.unavailable}`, () => {})
    return
  }

  let up: PlainUpstream
  let target: Target
  beforeAll(async () => {
    up = await startPlainUpstream()
    // A short upstream timeout, to see 504 quickly and that it bounds only the wait for an answer.
    target = await kind.start({
      upstreamUrl: up.url,
      backendUrl: BACKEND,
      redisUrl,
      env: {
        ZENZEFI_TIMEOUT_SECONDS: String(TIMEOUT_S),
        // Every customer of every run signs up from 127.0.0.1, and a shared Redis keeps those counts between runs.
        REGISTER_RATE_PER_ADDRESS: '10000/h',
        LOGIN_RATE_PER_ADDRESS: '10000/m',
        PURCHASE_RATE_PER_ADDRESS: '10000/m',
      },
    })
  })
  afterAll(async () => {
    await target?.close()
    await up?.close()
  })

  const call = (path: string, init: RequestInit & { json?: unknown; bearer?: string } = {}) => {
    const { json, bearer, ...rest } = init
    const headers = new Headers(rest.headers)
    if (json !== undefined) headers.set('content-type', 'application/json')
    if (bearer) headers.set('authorization', `Bearer ${bearer}`)
    return fetch(`${target.url}${path}`, { redirect: 'manual', ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body })
  }

  let n = 0
  /** register → login → purchase, all over HTTP. */
  async function customer() {
    const id = `${kind.name}${Date.now().toString(36)}${n++}`
    const account = { email: `${id}@parity.test`, username: `u_${id}`, password: 'correct horse battery' }
    const reg = await call('/api/v1/auth/register', { method: 'POST', json: account })
    expect(reg.status).toBe(201)
    const user = (await reg.json()) as { id: string; email: string }
    expect(user.email).toBe(account.email)
    const login = await call('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })
    expect(login.status).toBe(200)
    const { access_token: jwt, token_type } = (await login.json()) as { access_token: string; token_type: string }
    expect(token_type).toBe('bearer')
    const bought = await call('/api/v1/tokens/purchase', { method: 'POST', json: { duration_hours: 24 }, bearer: jwt })
    expect(bought.status).toBe(201)
    const token = (await bought.json()) as { id: string; token: string; activated_at: string | null }
    expect(token.activated_at).toBeNull()
    // Neither runtime may log them (test/support/log-scan.setup.ts checks every line both wrote).
    recordSecret(account.password, 'password')
    recordSecret(jwt, 'JWT')
    recordSecret(token.token, 'access token')
    return { user, jwt, token: token.token, tokenId: token.id }
  }

  describe('a customer from sign-up to revocation', () => {
    let c: Awaited<ReturnType<typeof customer>>
    let ws: WebSocket
    let wsClosed: Promise<{ code: number; reason: string; at: number }>

    it('registers, logs in and buys a token', async () => {
      c = await customer()
    })

    it('/status before first use: ready, not activated', async () => {
      const res = await call(`${PREFIX}/status`, { headers: { 'x-access-token': c.token } })
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body).toMatchObject({
        connected: true,
        authenticated_via: 'header',
        user_id: c.user.id,
        token_id: c.tokenId,
        is_activated: false,
        status: 'ready',
        time_remaining_seconds: null,
        duration_hours: 24,
      })
    })

    it('a proxied page comes back rewritten; Zenzefi sees who, never our credentials', async () => {
      const res = await call(`${PREFIX}/page`, { headers: { 'x-access-token': c.token, authorization: `Bearer ${c.jwt}`, cookie: 'JSESSIONID=zz' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      const html = await res.text()
      pages.set(kind.name, html.replaceAll(new URL(up.url).host, 'UPSTREAM'))
      // The runtime shim is the first thing in <head>, before the page's own elements.
      expect(html).toMatch(/^<!doctype html><html><head><script data-zenzefi-shim>\(function\(w,C\)[\s\S]*?<\/script><title>Zenzefi<\/title>/)
      // Root-relative gets the prefix; an absolute upstream URL moves to BACKEND_URL.
      expect(html).toContain(`<a id="rel" href="${PREFIX}/certificates?page=2">`)
      expect(html).toContain(`<link rel="stylesheet" href="${PREFIX}/css/app.css">`)
      expect(html).toContain(`<a id="abs" href="${BACKEND}${PREFIX}/admin/users">`)
      // Neither the shim nor the page names Zenzefi's address.
      expect(html).not.toContain(new URL(up.url).host)

      const seen = up.lastTo('/page')!
      expect(seen.url).toBe('/page')
      expect(seen.headers['x-user-id']).toBe(c.user.id)
      expect(seen.headers['x-token-id']).toBe(c.tokenId)
      expect(seen.headers['x-access-token']).toBeUndefined()
      // Our own JWT is our credential, not Zenzefi's.
      expect(seen.headers.authorization).toBeUndefined()
      expect(seen.headers.cookie).toBe('JSESSIONID=zz')
      expect(seen.headers['x-forwarded-proto']).toBe('http')
      expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
      expect(seen.headers.host).toBe(new URL(up.url).host)
    })

    it('/status after first use: active, with an expiry 24 h out', async () => {
      const res = await call(`${PREFIX}/status`, { headers: { 'x-access-token': c.token } })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { status: string; is_activated: boolean; time_remaining_seconds: number; expires_at: string }
      expect(body.status).toBe('active')
      expect(body.is_activated).toBe(true)
      expect(body.time_remaining_seconds).toBeGreaterThan(24 * 3600 - 120)
      expect(body.time_remaining_seconds).toBeLessThanOrEqual(24 * 3600)
      expect(new Date(body.expires_at).getTime()).toBeGreaterThan(Date.now())
    })

    it('a WebSocket through /ws?token= echoes text and binary frames', async () => {
      ws = await open(`${target.url.replace(/^http/, 'ws')}${PREFIX}/ws/echo?token=${c.token}&transport=websocket`)
      wsClosed = closed(ws)
      await echoes(ws)

      const seen = up.lastTo('/ws')!
      expect(seen.method).toBe('UPGRADE')
      expect(seen.url).toBe('/ws/echo?transport=websocket')
      expect(seen.headers['x-user-id']).toBe(c.user.id)
      expect(seen.headers['x-token-id']).toBe(c.tokenId)
    })

    it('the WebSocket outlives ZENZEFI_TIMEOUT_SECONDS (the timeout is for the handshake)', async () => {
      await new Promise((r) => setTimeout(r, TIMEOUT_S * 1000 + 500))
      ws.send('still here')
      expect((await nextMessage(ws)).data.toString()).toBe('still here')
    })

    let slow: Promise<{ how: 'cut' | 'ended'; text: string }>
    it('(an in-flight proxied response is streaming when the token is revoked)', async () => {
      const res = await call(`${PREFIX}/slow`, { headers: { 'x-access-token': c.token } })
      expect(res.status).toBe(200)
      const reader = res.body!.getReader()
      const first = await reader.read()
      expect(Buffer.from(first.value!).toString()).toBe('first ')
      slow = (async () => {
        let text = ''
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) return { how: 'ended', text }
            text += Buffer.from(value).toString()
          }
        } catch {
          return { how: 'cut', text }
        }
      })()
    })

    let revokedAt = 0
    it('revoking the token refuses it at once: proxy 401, /status 401', async () => {
      revokedAt = performance.now()
      const revoked = await call(`/api/v1/tokens/${c.tokenId}`, { method: 'DELETE', bearer: c.jwt })
      expect(revoked.status).toBe(200)
      expect(await revoked.json()).toEqual({
        message: 'Token revoked successfully',
        token_id: c.tokenId,
        revoked: true,
        refund_amount: '0.00',
        new_balance: '0.00',
      })

      const page = await call(`${PREFIX}/page`, { headers: { 'x-access-token': c.token } })
      expect(page.status).toBe(401)
      expect(await page.json()).toEqual({ detail: INVALID })
      const status = await call(`${PREFIX}/status`, { headers: { 'x-access-token': c.token } })
      expect(status.status).toBe(401)
      expect(await status.json()).toEqual({ detail: INVALID })
    })

    it('the open WebSocket is closed with 1008 within 2 s of the revocation', async () => {
      // On Workers an isolate only hears its own invalidations; the revoke above went
      // through this same worker (one isolate in Miniflare), so it must close here too.
      const left = Math.max(0, revokedAt + 2_000 - performance.now())
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still open 2 s after the revoke')), left))
      const { code, at } = await Promise.race([wsClosed, timeout])
      expect(code).toBe(1008)
      expect(at - revokedAt).toBeLessThan(2_000)
    })

    it('the in-flight response is stopped within 2 s of the revocation, upstream too', async () => {
      const left = Math.max(0, revokedAt + 2_000 - performance.now())
      const outcome = await Promise.race([slow, new Promise<null>((r) => setTimeout(() => r(null), left))])
      expect(outcome, 'still streaming 2 s after the revoke').not.toBeNull()
      expect(outcome!.text).toBe('')
      // A real difference: Node resets the connection, so the client knows the body is
      // incomplete. workerd ends a body whose stream errored with a normal last chunk
      // (seen with bare workerd too, not only Miniflare), so a Workers client sees a
      // short body that looks complete. No Worker API can reset the connection instead.
      expect(outcome!.how).toBe(kind.name === 'node' ? 'cut' : 'ended')
      // Zenzefi's side of the stream is given up in both.
      await until(() => up.abandoned() === 1)
    })

    it('a new WebSocket with the revoked token is refused before any upgrade', async () => {
      const refused = await open(`${target.url.replace(/^http/, 'ws')}${PREFIX}/ws/echo?token=${c.token}`).then(
        (s) => {
          s.terminate()
          throw new Error('upgrade unexpectedly succeeded')
        },
        (e: { status?: number; body?: string }) => e,
      )
      expect(refused.status).toBe(401)
      expect(JSON.parse(refused.body!)).toEqual({ detail: INVALID })
    })
  })

  it('?token= answers 303 with the cookie and a Location without the token; the cookie then works', async () => {
    const c = await customer()
    const res = await call(`${PREFIX}/page?lang=de&token=${c.token}&x=1`)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe(`${BACKEND}${PREFIX}/page?lang=de&x=1`)
    const cookie = res.headers.get('set-cookie')!
    expect(cookie).toMatch(new RegExp(`^${COOKIE}=${c.token}; `))
    expect(cookie).toMatch(/; HttpOnly/i)
    expect(cookie).toMatch(/; Path=\//)
    expect(cookie).toMatch(/; SameSite=lax/i)
    // The redirect doesn't start the clock.
    const status = await call(`${PREFIX}/status`, { headers: { cookie: `${COOKIE}=${c.token}` } })
    expect(await status.json()).toMatchObject({ authenticated_via: 'cookie', status: 'ready' })
    const page = await call(`${PREFIX}/page?lang=de&x=1`, { headers: { cookie: `${COOKIE}=${c.token}` } })
    expect(page.status).toBe(200)
    expect(up.lastTo('/page')!.url).toBe('/page?lang=de&x=1')
    expect(up.lastTo('/page')!.headers.cookie).toBeUndefined()
  })

  it('no token: 401 with the contract message, on the proxy and on /status', async () => {
    for (const path of [`${PREFIX}/page`, `${PREFIX}/status`]) {
      const res = await call(path)
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: AUTH_REQUIRED })
    }
  })

  it('an unknown token: 401 "Invalid or expired access token"', async () => {
    const res = await call(`${PREFIX}/page`, { headers: { 'x-access-token': 'x'.repeat(64) } })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ detail: INVALID })
  })

  it('source maps: 404 and Zenzefi is never asked', async () => {
    const c = await customer()
    const before = up.received.length
    const res = await call(`${PREFIX}/js/app.js.map`, { headers: { 'x-access-token': c.token } })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'Source maps not available through proxy' })
    expect(up.received.length).toBe(before)
  })

  it('upstream too slow: 504 Gateway Timeout after ZENZEFI_TIMEOUT_SECONDS', async () => {
    const c = await customer()
    const started = performance.now()
    const res = await call(`${PREFIX}/hang`, { headers: { 'x-access-token': c.token } })
    expect(res.status).toBe(504)
    expect(await res.json()).toEqual({ detail: 'Gateway Timeout: Zenzefi server did not respond', request_id: res.headers.get('x-request-id') })
    expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 50)
  })

  it('upstream unreachable: 502 Bad Gateway', async () => {
    const c = await customer()
    const dead = await target.sibling(await deadUpstreamUrl())
    try {
      const res = await fetch(`${dead.url}${PREFIX}/page`, { headers: { 'x-access-token': c.token } })
      expect(res.status).toBe(502)
      const { detail, request_id } = (await res.json()) as { detail: string; request_id: string }
      expect(request_id).toBe(res.headers.get('x-request-id'))
      // The contract allows a short reason after the message. Node names it from the
      // socket error; workerd's fetch only says "Network connection lost.", so the worker gives none.
      expect(detail).toBe(
        kind.name === 'node' ? 'Bad Gateway: Unable to reach Zenzefi server (connection refused)' : 'Bad Gateway: Unable to reach Zenzefi server',
      )
    } finally {
      await dead.close()
    }
  })
})

// ——— Edges of the proxy and the API, each seen from the client's side. ———
// Their own target pair, in front of a Zenzefi stand-in that records bodies and is
// reached under a base path (ZENZEFI_TARGET_URL = <upstream>/zz), so a climb out of it shows.

const BASE = '/zz'
const CLIENT_ORIGIN = 'https://client.parity.test'
const FOREIGN_ORIGIN = 'https://foreign.parity.test'
const BAD_GATEWAY = 'Bad Gateway: Unable to reach Zenzefi server'
const GATEWAY_TIMEOUT = 'Gateway Timeout: Zenzefi server did not respond'
const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
]
/** The CORS headers each target answered an allowed preflight with, compared at the end. */
const preflights = new Map<string, Record<string, string | null>>()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** A 5xx body of ours is `{"detail", "request_id"}`, the id being the answer's own X-Request-Id. */
async function errorBody(res: Response): Promise<{ detail: string }> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  const body = (await res.json()) as Record<string, unknown>
  expect(Object.keys(body).sort()).toEqual(['detail', 'request_id'])
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  return body as { detail: string }
}

describe.each(targets)('$name: edges', (kind) => {
  if (kind.unavailable) {
    it.skip(`skipped: ${kind.unavailable}`, () => {})
    return
  }

  let up: Zenzefi
  let target: Target
  let c: { userId: string; jwt: string; token: string }
  const extras: { close(): Promise<void> }[] = []

  /** fetch with a deadline, so a hang fails in seconds. */
  const req = (base: string, path: string, init: RequestInit & { ms?: number } = {}) => {
    const { ms = 5_000, ...rest } = init
    return fetch(`${base}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(ms), ...rest })
  }
  const proxied = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers)
    headers.set('x-access-token', c.token)
    return req(target.url, `${PREFIX}${path}`, { ...init, headers })
  }
  const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  /** A raw request head for this target, ending in the blank line when `end`. */
  const head = (line: string, headers: string[]) => `${line}\r\nHost: ${new URL(target.url).host}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`
  const uid = () => randomUUID().slice(0, 8)

  beforeAll(async () => {
    up = await startZenzefi()
    target = await kind.start({
      upstreamUrl: `${up.url}${BASE}`,
      backendUrl: BACKEND,
      redisUrl,
      // Limits are not what these cases are about: one device, one address, many requests.
      env: { CORS_ORIGINS: CLIENT_ORIGIN, ZENZEFI_TIMEOUT_SECONDS: '5', RATE_LIMITS: 'off', DEVICE_LIMIT: '0' },
    })
    const id = `e${kind.name}${Date.now().toString(36)}`
    const account = { email: `${id}@parity.test`, username: `u_${id}`, password: 'correct horse battery' }
    const reg = await req(target.url, '/api/v1/auth/register', json(account))
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`)
    const userId = ((await reg.json()) as { id: string }).id
    const login = await req(target.url, '/api/v1/auth/login', json({ email: account.email, password: account.password }))
    const { access_token: jwt } = (await login.json()) as { access_token: string }
    const bought = await req(target.url, '/api/v1/tokens/purchase', {
      ...json({ duration_hours: 24 }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` },
    })
    if (bought.status !== 201) throw new Error(`purchase: ${bought.status} ${await bought.text()}`)
    c = { userId, jwt, token: ((await bought.json()) as { token: string }).token }
  })
  afterAll(async () => {
    for (const e of extras.splice(0)) await e.close().catch(() => {})
    await target?.close()
    await up?.close()
  })

  it('a 1 MiB upload reaches Zenzefi whole and the client gets its answer', async () => {
    const body = randomBytes(1024 * 1024)
    const res = await proxied('/upload', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body })
    expect(res.status).toBe(201)
    expect(await res.json()).toEqual({ bytes: 1_048_576, sha256: sha256(body) })
    const seen = up.to(`${BASE}/upload`)
    expect(seen).toHaveLength(1)
    expect(seen[0]!.body.length).toBe(1_048_576)
  })

  it('a plain OPTIONS (no Access-Control-Request-Method) is forwarded; the client gets Zenzefi’s answer', async () => {
    const path = `/options-${uid()}`
    const res = await proxied(path, { method: 'OPTIONS' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-zenzefi-options')).toBe('1')
    expect(await res.text()).toBe('zenzefi options')
    expect(up.to(`${BASE}${path}`).map((r) => r.method)).toEqual(['OPTIONS'])
  })

  it('a CORS preflight is answered by the gateway: allowed origin echoed with credentials, foreign origin not; Zenzefi never sees one', async () => {
    const before = up.received.length
    const preflight = (origin: string) =>
      req(target.url, `${PREFIX}/api/things`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-access-token' },
      })
    const ok = await preflight(CLIENT_ORIGIN)
    expect(ok.status).toBe(204)
    const cors = Object.fromEntries(CORS_HEADERS.map((h) => [h, ok.headers.get(h)]))
    preflights.set(kind.name, cors)
    expect(cors['access-control-allow-origin']).toBe(CLIENT_ORIGIN)
    expect(cors['access-control-allow-credentials']).toBe('true')
    expect(cors['access-control-allow-methods']).toMatch(/\bPOST\b/)
    for (const h of ['content-type', 'x-access-token']) expect(cors['access-control-allow-headers']?.toLowerCase()).toContain(h)
    expect(cors['access-control-max-age']).toMatch(/^\d+$/)

    const foreign = await preflight(FOREIGN_ORIGIN)
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
    await sleep(100)
    expect(up.received.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([])
  })

  it('a service-worker script fetch: 403 before any token is looked at, and Zenzefi is never asked', async () => {
    const path = `/sw-${uid()}.js`
    const res = await proxied(path, { headers: { 'service-worker': 'script' } })
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ detail: 'Service workers are not allowed through the proxy' })
    await sleep(100)
    expect(up.to(`${BASE}${path}`)).toEqual([])
  })

  it('Zenzefi’s Service-Worker-Allowed never reaches the client', async () => {
    const res = await proxied('/sw/allowed')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('sw allowed')
    expect(up.to(`${BASE}/sw/allowed`)).toHaveLength(1)
    expect(res.headers.get('service-worker-allowed')).toBeNull()
  })

  it('a garbage ?launch= code: 401 "Invalid or expired launch code", and Zenzefi is never asked', async () => {
    const path = `/launch-${uid()}`
    for (const code of ['nope', 'A'.repeat(64)]) {
      const res = await req(target.url, `${PREFIX}${path}?launch=${code}&x=1`)
      expect(res.status).toBe(401)
      expect(await res.json()).toEqual({ detail: 'Invalid or expired launch code' })
    }
    await sleep(100)
    expect(up.to(`${BASE}${path}`)).toEqual([])
  })

  it('one access-log line per proxied request', async () => {
    const path = `/logged-${uid()}`
    const res = await proxied(path)
    expect(res.status).toBe(200)
    await res.text()
    await eventually(() => target.logs.some((l) => l.includes(path)), 3_000, `a log line naming ${path}`)
    await sleep(500) // a second line would be written by now
    const lines = target.logs.filter((l) => l.includes(path))
    expect(lines, lines.join('\n')).toHaveLength(1)
  })

  it('X-Request-Id: an acceptable client id is kept, reaches Zenzefi and names the access line; any other is replaced and never reaches Zenzefi', async () => {
    const path = `/rid-${uid()}`
    const kept = `client_${uid()}-ID`
    const res = await proxied(path, { headers: { 'x-request-id': kept } })
    expect(res.status).toBe(200)
    await res.text()
    expect(res.headers.get('x-request-id')).toBe(kept)
    expect(up.to(`${BASE}${path}`).map((r) => r.headers['x-request-id'])).toEqual([kept])
    await eventually(() => target.logs.some((l) => l.includes(path)), 3_000, `a log line naming ${path}`)
    const line = JSON.parse(target.logs.find((l) => l.includes(path))!.replace(/^[^{]*/, '')) as Record<string, unknown>
    expect(line).toMatchObject({ method: 'GET', path: `${PREFIX}${path}`, status: 200, mode: 'direct', request_id: kept, user_id: c.userId })
    expect(typeof line.token_id).toBe('string')
    expect(typeof line.upstream_ms).toBe('number')
    expect(line.client_ip).toBe('127.0.0.1')

    for (const bad of ['x'.repeat(65), 'has space', 'semi;colon', '']) {
      const other = `/rid-bad-${uid()}`
      const r = await proxied(other, { headers: { 'x-request-id': bad } })
      await r.text()
      const given = r.headers.get('x-request-id')!
      expect(given, JSON.stringify(bad)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      expect(up.to(`${BASE}${other}`).map((s) => s.headers['x-request-id'])).toEqual([given])
    }
    // Our own answers, before any Zenzefi: a step's refusal, the API, the front door's 413.
    const refused = await req(target.url, `${PREFIX}/anything`, { headers: { 'x-request-id': 'refused-1' } })
    expect([refused.status, refused.headers.get('x-request-id')]).toEqual([401, 'refused-1'])
    // (Not /health: its probe would reach Zenzefi as a request of no customer's.)
    const api = await req(target.url, '/', { headers: { 'x-request-id': 'api-1' } })
    expect([api.status, api.headers.get('x-request-id')]).toEqual([200, 'api-1'])
    const big = await req(target.url, '/api/v1/auth/login', {
      ...json({ email: 'x'.repeat(70_000) }),
      headers: { 'content-type': 'application/json', 'x-request-id': 'big-1' },
    })
    expect([big.status, big.headers.get('x-request-id')]).toEqual([413, 'big-1'])
  })

  it('over PROXY_RATE_BURST: 429 with Retry-After and the limit, and Zenzefi never sees the requests over it', async () => {
    const limited = await target.sibling(`${up.url}${BASE}`, { RATE_LIMITS: 'on', PROXY_RATE_PER_SECOND: '1', PROXY_RATE_BURST: '3' })
    extras.push(limited)
    const path = `/limited-${uid()}`
    const answers: Response[] = []
    for (let i = 0; i < 5; i++) answers.push(await req(limited.url, `${PREFIX}${path}`, { headers: { 'x-access-token': c.token } }))
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429, 429])
    expect(up.to(`${BASE}${path}`)).toHaveLength(3)
    const refused = answers[3]!
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(await refused.json()).toEqual({ detail: 'Too many requests. Try again in 1 seconds.', limit: 1, window: 1, retry_after: 1 })
    for (const r of answers.slice(0, 3)) await r.text()
  })

  it('a login with an unknown email: 401 "Incorrect email or password" within 10 s, several times on a fresh instance', async () => {
    // A fresh instance (a fresh isolate on Workers) whose first request is not a login.
    const fresh = await target.sibling(`${up.url}${BASE}`)
    extras.push(fresh)
    expect((await req(fresh.url, '/')).status).toBe(200)
    for (let i = 0; i < 3; i++) {
      const started = performance.now()
      const res = await req(fresh.url, '/api/v1/auth/login', {
        ...json({ email: `nobody-${uid()}@parity.test`, password: 'whatever it is' }),
        ms: 10_000,
      }).catch((err: Error) => {
        throw new Error(`login #${i + 1} unanswered after ${Math.round(performance.now() - started)} ms: ${err.message}`)
      })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(await res.json()).toEqual({ detail: 'Incorrect email or password' })
    }
  }, 40_000)

  it('502 when Zenzefi’s port is closed', async () => {
    const dead = await target.sibling(await deadUpstreamUrl())
    extras.push(dead)
    const res = await req(dead.url, `${PREFIX}/page`, { headers: { 'x-access-token': c.token } })
    expect(res.status).toBe(502)
    expect((await errorBody(res)).detail.startsWith(BAD_GATEWAY)).toBe(true)
  })

  it('502 when Zenzefi stopped after having served (kept-alive connections gone)', async () => {
    const other = await startZenzefi()
    const gw = await target.sibling(other.url)
    extras.push(gw, other)
    const first = await req(gw.url, `${PREFIX}/ok`, { headers: { 'x-access-token': c.token } })
    expect(first.status).toBe(200)
    await first.text()
    await other.close()
    const res = await req(gw.url, `${PREFIX}/ok`, { headers: { 'x-access-token': c.token } })
    expect(res.status).toBe(502)
    expect((await errorBody(res)).detail.startsWith(BAD_GATEWAY)).toBe(true)
  })

  it('504 when Zenzefi accepts the request and never answers (ZENZEFI_TIMEOUT_SECONDS=1)', async () => {
    const silent = await startSilentServer()
    const gw = await target.sibling(silent.url, { ZENZEFI_TIMEOUT_SECONDS: '1' })
    extras.push(gw, silent)
    const started = performance.now()
    const res = await req(gw.url, `${PREFIX}/page`, { headers: { 'x-access-token': c.token } })
    const took = performance.now() - started
    expect(res.status).toBe(504)
    expect(await errorBody(res)).toMatchObject({ detail: GATEWAY_TIMEOUT })
    expect(silent.accepted()).toBeGreaterThan(0)
    expect(took).toBeGreaterThanOrEqual(950)
    expect(took).toBeLessThan(3_000)
  })

  it('a 5 MB JSON body (Content-Length set, sent whole as curl does): the client reads 413, no EPIPE/ECONNRESET', async () => {
    const big = Buffer.from(
      JSON.stringify({
        email: `big-${uid()}@parity.test`,
        username: `big_${uid()}`,
        password: 'correct horse battery',
        full_name: 'x'.repeat(5 * 1024 * 1024),
      }),
    )
    for (let i = 0; i < 3; i++) {
      const res = await curlLike(`${target.url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
        body: big,
      }).catch((err: Error) => {
        throw new Error(`attempt ${i + 1}: the client saw ${err.message}`)
      })
      expect(res.status).toBe(413)
      expect(JSON.parse(res.body)).toEqual({ detail: 'Request body too large' })
    }
  })

  describe('a GET or HEAD that carries a body is refused with 400 and never forwarded', () => {
    const framings = {
      'Content-Length: 5': { headers: ['Content-Length: 5'], body: 'hello' },
      'Transfer-Encoding: chunked': { headers: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n' },
    }
    for (const method of ['GET', 'HEAD']) {
      for (const [name, framing] of Object.entries(framings)) {
        it(`${method} with ${name}`, async () => {
          const path = `/body-${uid()}`
          const raw = await rawExchange(
            target.url,
            head(`${method} ${PREFIX}${path} HTTP/1.1`, [`X-Access-Token: ${c.token}`, ...framing.headers, 'Connection: close']) + framing.body,
          )
          const res = parseResponse(raw)
          expect(res.status).toBe(400)
          if (method === 'GET') expect(JSON.parse(res.body)).toEqual({ detail: 'A GET or HEAD request must not carry a body' })
          await sleep(200)
          expect(up.to(`${BASE}${path}`).map((r) => `${r.method} ${r.url} body=${r.body.length}`)).toEqual([])
        })
      }
    }

    it('the smuggling shape (a second request inside a GET’s chunked body) never reaches Zenzefi as a request', async () => {
      const inner = `GET /admin HTTP/1.1\r\nHost: ${up.host}\r\nX-User-Id: attacker\r\nX-Token-Id: attacker\r\nContent-Length: 0\r\n\r\n`
      const path = `/a-${uid()}`
      await rawExchange(
        target.url,
        head(`GET ${PREFIX}${path} HTTP/1.1`, [`X-Access-Token: ${c.token}`, 'Transfer-Encoding: chunked', 'Connection: close']) +
          `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`,
      )
      // A smuggled request would be parsed by Zenzefi right behind the first one.
      await sleep(500)
      expect(up.received.filter((r) => r.url.includes('/admin')).map((r) => `${r.method} ${r.url}`)).toEqual([])
      expect(up.received.filter((r) => r.headers['x-user-id'] !== c.userId).map((r) => `${r.url} x-user-id=${r.headers['x-user-id']}`)).toEqual([])
    })
  })

  describe('dot segments never climb out of ZENZEFI_TARGET_URL’s path', () => {
    const inside = ['%2e%2e', '%2E%2E', '.%2e', '..']
    const outside = ['/%2e%2e/users/me', '/%2E%2E/users/me', '/.%2e/users/me', '/../users/me', '/a/%2e%2e/%2e%2e/users/me']

    it('as a client sends them (WHATWG-normalised): a/%2e%2e/b reaches Zenzefi as /b, %2e%2e/users/me does not reach it', async () => {
      const id = uid()
      const res = await proxied(`/a-${id}/%2e%2e/b-${id}`)
      expect(res.status).toBe(200)
      expect(up.received.filter((r) => r.url.includes(id)).map((r) => r.url)).toEqual([`${BASE}/b-${id}`])
      const before = up.received.length
      for (const p of ['/%2e%2e/users/me', '/a/%2e%2e/%2e%2e/users/me']) await (await proxied(p)).text()
      expect(up.received.slice(before).map((r) => r.url)).toEqual([])
    })

    // Node's server hands the proxy the request-target as sent; workerd normalises it before the worker sees it.
    it('as raw request-targets over TCP (no client normalising them)', async () => {
      const ids = inside.map(() => uid())
      const reached: string[] = []
      for (const [i, dots] of inside.entries()) {
        const id = ids[i]!
        const res = parseResponse(
          await rawExchange(target.url, head(`GET ${PREFIX}/a-${id}/${dots}/b-${id} HTTP/1.1`, [`X-Access-Token: ${c.token}`, 'Connection: close'])),
        )
        await sleep(50)
        const urls = up.received.filter((r) => r.url.includes(id)).map((r) => r.url)
        reached.push(`a/${dots}/b → ${res.status} ${urls.join(' ') || '(nothing)'}`)
      }
      const climbed: string[] = []
      for (const p of outside) {
        const before = up.received.length
        const res = parseResponse(await rawExchange(target.url, head(`GET ${PREFIX}${p} HTTP/1.1`, [`X-Access-Token: ${c.token}`, 'Connection: close'])))
        await sleep(50)
        const urls = up.received.slice(before).map((r) => r.url)
        if (urls.length) climbed.push(`${p} → ${res.status}, Zenzefi saw ${urls.join(' ')}`)
      }
      expect({ reached, climbed }).toEqual({ reached: inside.map((dots, i) => `a/${dots}/b → 200 ${BASE}/b-${ids[i]}`), climbed: [] })
    })
  })

  it('a proxied HTML page and its headers never name Zenzefi’s host', async () => {
    const res = await proxied('/page')
    expect(res.status).toBe(200)
    const html = await res.text()
    // The page really was one that names the upstream, and it was rewritten.
    expect(html).toContain(`href="${BACKEND}${PREFIX}${BASE}/admin"`)
    expect(html).toContain('<script')
    const needles = [up.host, `localhost:${up.port}`].map((n) => n.toLowerCase())
    const leaks: string[] = []
    const scan = (where: string, text: string) => {
      const lower = text.toLowerCase()
      for (const n of needles) {
        for (let at = lower.indexOf(n); at !== -1; at = lower.indexOf(n, at + 1))
          leaks.push(`${where}: …${text.slice(Math.max(0, at - 40), at + n.length + 10)}…`)
      }
    }
    scan('body', html)
    for (const [name, value] of res.headers) scan(`header ${name}`, `${name}: ${value}`)
    expect(leaks).toEqual([])
  })

  it('proxied answers are never publicly cacheable', async () => {
    const pub = await proxied('/cc/public')
    expect(pub.status).toBe(200)
    await pub.text()
    expect(pub.headers.get('cache-control')).toMatch(/\bprivate\b/i)
    expect(pub.headers.get('cache-control')).not.toMatch(/\bpublic\b/i)
    const none = await proxied('/cc/none')
    expect(none.status).toBe(200)
    await none.text()
    expect(none.headers.get('cache-control')).toMatch(/\bprivate\b/i)
  })

  it('our JWT never reaches Zenzefi, in any spelling of the Authorization header', async () => {
    const signature = c.jwt.split('.')[2]!
    const spellings = [`Bearer ${c.jwt} extra`, `bearer   ${c.jwt}`, `BEARER\t${c.jwt}`, `Basic Zm9vOmJhcg==, Bearer ${c.jwt}`]
    const leaked: string[] = []
    for (const authorization of spellings) {
      const path = `/auth-${uid()}`
      const res = await proxied(path, { headers: { authorization } })
      expect(res.status).toBe(200)
      await res.text()
      const seen = up.to(`${BASE}${path}`)
      expect(seen).toHaveLength(1)
      if ((seen[0]!.headers.authorization ?? '').includes(signature)) leaked.push(JSON.stringify(authorization.replace(c.jwt, '<jwt>')))
    }
    expect(leaked, 'spellings that reached Zenzefi with the JWT').toEqual([])
  })

  it('another Authorization value (Zenzefi’s own) passes through unchanged', async () => {
    const path = `/basic-${uid()}`
    const res = await proxied(path, { headers: { authorization: 'Basic Zm9vOmJhcg==' } })
    expect(res.status).toBe(200)
    await res.text()
    expect(up.to(`${BASE}${path}`)[0]?.headers.authorization).toBe('Basic Zm9vOmJhcg==')
  })
})

describe('parity', () => {
  it('both runtimes rewrote the same page to the same bytes', (ctx) => {
    if (pages.size < 2) ctx.skip()
    // Each target has its own upstream (a different port): compare with that one spelling replaced.
    expect(pages.get('worker')).toBe(pages.get('node'))
  })

  it('both runtimes answered an allowed preflight with the same CORS headers', (ctx) => {
    if (preflights.size < 2) ctx.skip()
    expect(preflights.get('worker')).toEqual(preflights.get('node'))
  })
})

describe.each(targets)('$name: credits', (kind) => {
  if (kind.unavailable) {
    it.skip(`skipped: ${kind.unavailable}`, () => {})
    return
  }
  let up: PlainUpstream
  let target: Target
  beforeAll(async () => {
    up = await startPlainUpstream()
    target = await kind.start({ upstreamUrl: up.url, backendUrl: BACKEND, redisUrl, env: { ...PRICED, PAYMENT_PROVIDER: 'fake', RATE_LIMITS: 'off' } })
  })
  afterAll(async () => {
    await target?.close()
    await up?.close()
  })
  const call = async (path: string, init: { method?: string; json?: unknown; jwt?: string; key?: string } = {}) => {
    const headers: Record<string, string> = {}
    if (init.json !== undefined) headers['content-type'] = 'application/json'
    if (init.jwt) headers.authorization = `Bearer ${init.jwt}`
    if (init.key) headers['idempotency-key'] = init.key
    const res = await fetch(`${target.url}${path}`, {
      method: init.method ?? 'GET',
      headers,
      redirect: 'manual',
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      signal: AbortSignal.timeout(10_000),
    })
    return { status: res.status, replayed: res.headers.get('idempotent-replayed'), location: res.headers.get('location'), text: await res.text() }
  }

  it('top up on the checkout page, buy with a key (replayed byte for byte), refund: the same answers on both runtimes', async () => {
    const id = `m${kind.name}${Date.now().toString(36)}`
    const account = { email: `${id}@parity.test`, username: `u_${id}`, password: 'correct horse battery' }
    expect((await call('/api/v1/auth/register', { method: 'POST', json: account })).status).toBe(201)
    const jwt = JSON.parse((await call('/api/v1/auth/login', { method: 'POST', json: { email: account.email, password: account.password } })).text).access_token
    recordSecret(account.password, 'password')
    recordSecret(jwt, 'JWT')

    const short = await call('/api/v1/tokens/purchase', { method: 'POST', jwt, json: { duration_hours: 24 } })
    expect([short.status, JSON.parse(short.text)]).toEqual([402, { detail: 'Insufficient balance. Required: 18.00 ZNC, Available: 0.00 ZNC' }])

    const topUp = await call('/api/v1/currency/purchase', { method: 'POST', jwt, json: { amount_znc: '50.00', return_url: 'http://account.parity.test/' } })
    expect(topUp.status).toBe(201)
    const payment = JSON.parse(topUp.text)
    expect(payment).toMatchObject({ amount_znc: '50.00', amount_rub: '500.00', status: 'pending' })
    const checkout = new URL(payment.payment_url).pathname
    expect((await call(checkout)).text).toContain('<button type="submit">Pay 500.00 RUB</button>')
    expect(await call(checkout, { method: 'POST' })).toMatchObject({ status: 303, location: 'http://account.parity.test/' })
    expect(JSON.parse((await call('/api/v1/currency/balance', { jwt })).text)).toEqual({ balance: '50.00', currency: 'ZNC' })

    const bought = await call('/api/v1/tokens/purchase', { method: 'POST', jwt, json: { duration_hours: 24 }, key: 'p-1' })
    expect(bought.status).toBe(201)
    const token = JSON.parse(bought.text)
    recordSecret(token.token, 'access token')
    expect(token).toMatchObject({ cost_znc: '18.00', new_balance: '32.00', refundable: true })
    const again = await call('/api/v1/tokens/purchase', { method: 'POST', jwt, json: { duration_hours: 24 }, key: 'p-1' })
    expect(again).toMatchObject({ status: 201, replayed: 'true', text: bought.text })

    const revoked = JSON.parse((await call(`/api/v1/tokens/${token.id}`, { method: 'DELETE', jwt })).text)
    expect(revoked).toEqual({ message: 'Token revoked successfully', token_id: token.id, revoked: true, refund_amount: '18.00', new_balance: '50.00' })
    const history = JSON.parse((await call('/api/v1/currency/transactions', { jwt })).text)
    expect(history.items.map((t: { transaction_type: string; amount: string }) => `${t.transaction_type} ${t.amount}`)).toEqual([
      'refund 18.00',
      'purchase -18.00',
      'deposit 50.00',
    ])
  })
})
