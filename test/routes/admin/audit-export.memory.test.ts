// A large export is streamed: 100,000 events come out as CSV while the process grows by
// far less than the export's own size (rows are read in batches by id, one at a time).

import v8 from 'node:v8'
import vm from 'node:vm'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, expect, it } from 'vitest'
import { users } from '../../../src/db/schema'
import { appFixture, signUp } from '../../support/harness'

// What the stream keeps, not the garbage it leaves for the collector: measured after a full collection.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const f = appFixture()
const ROWS = 100_000
let admin: Awaited<ReturnType<typeof signUp>>

beforeAll(async () => {
  admin = await signUp(f.t)
  await f.db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
  // Fast, not chained: this test is about the stream, not the HMACs.
  await f.db.db.execute(sql`
    insert into audit_events (occurred_at, action, outcome, actor_type, actor_id, subject_user_id, resource_type, resource_id, ip, user_agent, request_id, details, prev_hmac, hmac)
    select now(), 'token.purchase', 'success', 'user', ${admin.user.id}::uuid, ${admin.user.id}::uuid, 'access_token', 'tok-' || g, '203.0.113.1',
           'Mozilla/5.0 (X11; Linux x86_64) "quoted", and long enough to be a real browser string', 'req-' || g,
           '{"cost_znc":"18.00","duration_hours":24}', repeat('0', 64), repeat('0', 64)
    from generate_series(1, ${ROWS}) g`)
}, 120_000)

it('streams 100,000 events as CSV growing memory by < 50 MB', async () => {
  gc()
  const before = process.memoryUsage()
  const res = await f.t.request('/api/v1/admin/audit-logs/export?format=csv', { bearer: admin.jwt })
  expect(res.status).toBe(200)
  const reader = res.body!.getReader()
  let bytes = 0
  let lines = 0
  let reads = 0
  let peakHeap = 0
  let peakRss = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.byteLength
    // No value here holds a line break, so each one ends a row.
    for (let i = 0; i < value.length; i++) if (value[i] === 10) lines++
    if (++reads % 10 === 0) {
      gc()
      const m = process.memoryUsage()
      peakHeap = Math.max(peakHeap, m.heapUsed)
      peakRss = Math.max(peakRss, m.rss)
    }
  }
  expect(reads).toBeGreaterThan(50)
  // The header, the inserted rows, and the admin's own registration and login.
  expect(lines).toBe(ROWS + 3)
  // The export itself is far larger than the bound, so it cannot have been held whole.
  expect(bytes).toBeGreaterThan(30 * 1024 * 1024)
  const MB = 1024 * 1024
  expect((peakHeap - before.heapUsed) / MB).toBeLessThan(50)
  // PGlite's own memory lives in this process too (WebAssembly): the heap is what the stream costs.
  if (process.env.DATABASE_URL) expect((peakRss - before.rss) / MB).toBeLessThan(50)
}, 180_000)
