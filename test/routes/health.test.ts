import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startApp, type TestApp, type TestDatabase, testDatabase } from '../support/harness'
import { testCa } from '../support/test-ca'

let db: TestDatabase
let upstream: ReturnType<typeof createServer>
let upstreamUrl: string
let heads = 0
beforeAll(async () => {
  db = await testDatabase()
  const ca = testCa()
  upstream = createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
    if (req.method === 'HEAD') heads++
    res.writeHead(200).end()
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  upstreamUrl = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
afterAll(async () => {
  upstream?.close()
  await db?.drop()
})

async function withApp(env: Record<string, string>, fn: (t: TestApp) => Promise<void>) {
  const t = await startApp({ database: db, env })
  try {
    await fn(t)
  } finally {
    await t.close()
  }
}

describe('health', () => {
  it('/health/detailed: all three up when Zenzefi answers over TLS verified with ZENZEFI_CA_FILE', async () => {
    await withApp({ ZENZEFI_TARGET_URL: upstreamUrl, ZENZEFI_CA_FILE: testCa().caFile }, async (t) => {
      const before = heads
      const res = await t.request('/health/detailed')
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body.status).toBe('healthy')
      expect(body.overall).toEqual({ healthy_count: 3, total_count: 3 })
      for (const check of Object.values(body.checks) as { status: string; latency_ms: number; error: null }[]) {
        expect(check.status).toBe('up')
        expect(check.latency_ms).toBeGreaterThanOrEqual(0)
        expect(check.error).toBeNull()
      }
      expect(body.checks.zenzefi.url).toBe(upstreamUrl)
      expect(heads).toBe(before + 1)
      expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp)
    })
  })

  it('an untrusted Zenzefi certificate is "down" with the reason, and the whole is degraded, not unhealthy', async () => {
    await withApp({ ZENZEFI_TARGET_URL: upstreamUrl }, async (t) => {
      const res = await t.request('/health/detailed')
      expect(res.status).toBe(200)
      const body = await res.json()
      expect(body.status).toBe('degraded')
      expect(body.checks.zenzefi.status).toBe('down')
      expect(body.checks.zenzefi.error).toMatch(/certificate|self.signed|issuer/i)
      expect(body.overall.healthy_count).toBe(2)
    })
  })

  it('ZENZEFI_TLS_INSECURE=true skips the certificate check only when asked, and says so in the log', async () => {
    await withApp({ ZENZEFI_TARGET_URL: upstreamUrl, ZENZEFI_TLS_INSECURE: 'true' }, async (t) => {
      expect((await (await t.request('/health/detailed')).json()).checks.zenzefi.status).toBe('up')
      expect(t.logs.join('\n')).toMatch(/ZENZEFI_TLS_INSECURE=true/)
    })
  })

  it('an unreachable Zenzefi is degraded; /health answers cheaply from the last report', async () => {
    await withApp({ ZENZEFI_TARGET_URL: 'http://127.0.0.1:9' }, async (t) => {
      const res = await t.request('/health')
      expect(res.status).toBe(200)
      const first = await res.json()
      expect(Object.keys(first).sort()).toEqual(['status', 'timestamp'])
      expect(first.status).toBe('degraded')
      const second = await (await t.request('/health')).json()
      expect(second.timestamp).toBe(first.timestamp) // served from the cached report
    })
  })

  it('the database URL is shown without its password', async () => {
    await withApp({}, async (t) => {
      const body = await (await t.request('/health/detailed')).json()
      expect(body.checks.database.status).toBe('up')
      if (db.url) {
        const u = new URL(db.url)
        if (u.password) expect(body.checks.database.url).not.toContain(u.password)
        expect(body.checks.database.url).not.toContain('@')
      }
    })
  })
})
