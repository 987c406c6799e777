import { randomUUID } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { type AuditEventRow, users } from '../../../src/db/schema'
import { auditItem, csvHeader, csvLine } from '../../../src/services/audit-log'
import { appFixture, purchase, signUp } from '../../support/harness'
import { giveCredits, PRICED } from '../../support/money'

const f = appFixture(PRICED)
let admin: Awaited<ReturnType<typeof signUp>>
let u: Awaited<ReturnType<typeof signUp>>
let token: Awaited<ReturnType<typeof purchase>>

interface Item {
  id: number
  occurred_at: string
  action: string
  outcome: string
  actor_type: string
  actor_id: string | null
  subject_user_id: string | null
  resource_type: string | null
  resource_id: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  details: Record<string, unknown>
}

const sampleRow: AuditEventRow = {
  id: 1,
  occurredAt: new Date('2026-01-01T00:00:00Z'),
  action: 'auth.login',
  outcome: 'failure',
  actorType: 'anonymous',
  actorId: null,
  subjectUserId: null,
  resourceType: null,
  resourceId: null,
  ip: '203.0.113.1',
  userAgent: null,
  requestId: 'r1',
  details: '{}',
  prevHmac: '0'.repeat(64),
  hmac: '0'.repeat(64),
}

const get = (path: string, jwt = admin.jwt) => f.t.request(path, { bearer: jwt })

beforeAll(async () => {
  admin = await signUp(f.t)
  await f.db.db.update(users).set({ isSuperuser: true }).where(eq(users.id, admin.user.id))
  u = await signUp(f.t)
  await giveCredits(f.t, u.user.id, 5000)
  token = await purchase(f.t, u.jwt, 24)
  // A browser string written to break a CSV: quotes, a comma, a line break, and a formula.
  await f.t.request('/api/v1/auth/login', {
    method: 'POST',
    json: { email: u.account.email, password: 'not the password' },
    headers: { 'user-agent': '=HYPERLINK("x"), evil "quoted"' },
  })
})

/** RFC 4180 rows (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"'
        i++
      } else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') {
      row.push(cell)
      cell = ''
    } else if (ch === '\n') {
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
    } else cell += ch
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell])
  return rows
}

describe('GET /api/v1/admin/audit-logs', () => {
  it('superusers only', async () => {
    const res = await get('/api/v1/admin/audit-logs', u.jwt)
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ detail: 'Superuser permissions required' })
    expect((await f.t.request('/api/v1/admin/audit-logs')).status).toBe(403)
    expect((await get('/api/v1/admin/audit-logs/export', u.jwt)).status).toBe(403)
  })

  it('newest first, paged, with the contract fields and details as an object', async () => {
    const res = await get('/api/v1/admin/audit-logs?limit=2')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { items: Item[]; total: number; limit: number; offset: number }
    expect(body).toMatchObject({ limit: 2, offset: 0 })
    expect(body.items).toHaveLength(2)
    expect(body.total).toBeGreaterThanOrEqual(6)
    expect(body.items[0]!.id).toBeGreaterThan(body.items[1]!.id)
    expect(Object.keys(body.items[0]!).sort()).toEqual(
      [
        'id',
        'occurred_at',
        'action',
        'outcome',
        'actor_type',
        'actor_id',
        'subject_user_id',
        'resource_type',
        'resource_id',
        'ip',
        'user_agent',
        'request_id',
        'details',
      ].sort(),
    )
    const next = (await (await get('/api/v1/admin/audit-logs?limit=2&offset=2')).json()) as { items: Item[] }
    expect(next.items[0]!.id).toBeLessThan(body.items[1]!.id)
    expect(typeof body.items[0]!.details).toBe('object')
  })

  it('filters by user (actor or subject), action and time', async () => {
    const mine = (await (await get(`/api/v1/admin/audit-logs?user_id=${u.user.id}&limit=100`)).json()) as { items: Item[]; total: number }
    expect(mine.items.length).toBe(mine.total)
    expect(mine.items.every((i) => i.subject_user_id === u.user.id || i.actor_id === u.user.id)).toBe(true)
    expect(mine.items.map((i) => i.action).sort()).toEqual(['auth.login', 'auth.login', 'auth.register', 'token.purchase'])

    const bought = (await (await get('/api/v1/admin/audit-logs?action=token.purchase')).json()) as { items: Item[] }
    expect(bought.items).toEqual([
      expect.objectContaining({ action: 'token.purchase', resource_id: token.id, details: { duration_hours: 24, cost_znc: '18.00' } }),
    ])

    const future = new Date(Date.now() + 3_600_000).toISOString()
    expect(((await (await get(`/api/v1/admin/audit-logs?since=${encodeURIComponent(future)}`)).json()) as { total: number }).total).toBe(0)
    const all = ((await (await get('/api/v1/admin/audit-logs')).json()) as { total: number }).total
    expect(((await (await get(`/api/v1/admin/audit-logs?until=${encodeURIComponent(future)}`)).json()) as { total: number }).total).toBe(all)
  })

  it('limit 1–100 and well-formed filters, else 422', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'offset=-1', 'user_id=nope', 'since=yesterday']) {
      expect((await get(`/api/v1/admin/audit-logs?${q}`)).status, q).toBe(422)
    }
    expect((await get('/api/v1/admin/audit-logs/export?format=xml')).status).toBe(422)
  })
})

describe('GET /api/v1/admin/audit-logs/export', () => {
  it('NDJSON: one event per line, oldest first, as an attachment', async () => {
    const res = await get(`/api/v1/admin/audit-logs/export?user_id=${u.user.id}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/)
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-logs-[\w-]+\.ndjson"$/)
    const lines = (await res.text()).trimEnd().split('\n')
    const items = lines.map((l) => JSON.parse(l) as Item)
    expect(items.map((i) => i.action)).toEqual(['auth.register', 'auth.login', 'token.purchase', 'auth.login'])
    expect(items[0]!.id).toBeLessThan(items[3]!.id)
  })

  it('CSV: a header, one row per event, every awkward value quoted so it reads back exactly (a formula neutralised)', async () => {
    const res = await get(`/api/v1/admin/audit-logs/export?format=csv&user_id=${u.user.id}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-logs-[\w-]+\.csv"$/)
    const [header, ...rows] = parseCsv(await res.text())
    expect(header).toEqual([
      'id',
      'occurred_at',
      'action',
      'outcome',
      'actor_type',
      'actor_id',
      'subject_user_id',
      'resource_type',
      'resource_id',
      'ip',
      'user_agent',
      'request_id',
      'details',
    ])
    expect(rows).toHaveLength(4)
    expect(rows.every((r) => r.length === header!.length)).toBe(true)
    const failed = rows.find((r) => r[3] === 'failure')!
    expect(failed[10]).toBe(`'=HYPERLINK("x"), evil "quoted"`)
    expect(JSON.parse(failed[12]!)).toEqual({ reason: 'bad_password' })
    const purchaseRow = rows.find((r) => r[2] === 'token.purchase')!
    expect(JSON.parse(purchaseRow[12]!)).toEqual({ cost_znc: '18.00', duration_hours: 24 })
  })

  it('a line break inside a value stays inside its quoted cell', () => {
    const item = { ...auditItem(sampleRow), user_agent: 'two\nlines, "and quotes"\r\n', details: { reason: 'a, b\nc' } }
    const [header, row] = parseCsv(`${csvHeader()}\n${csvLine(item)}\n`)
    expect(row).toHaveLength(header!.length)
    expect(row![10]).toBe('two\nlines, "and quotes"\r\n')
    expect(JSON.parse(row![12]!)).toEqual({ reason: 'a, b\nc' })
  })

  it('no event, listing or export holds a token, a password or a JWT', async () => {
    const texts = [
      await (await get('/api/v1/admin/audit-logs?limit=100')).text(),
      await (await get('/api/v1/admin/audit-logs/export')).text(),
      await (await get('/api/v1/admin/audit-logs/export?format=csv')).text(),
      JSON.stringify(await f.db.db.execute(sql`select * from audit_events`)),
    ]
    for (const text of texts) {
      for (const secret of [token.token, u.account.password, admin.account.password, u.jwt, admin.jwt]) expect(text).not.toContain(secret)
      expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./)
    }
  })

  it('an export that matches nothing is empty (CSV: the header alone)', async () => {
    const none = randomUUID()
    expect(await (await get(`/api/v1/admin/audit-logs/export?user_id=${none}`)).text()).toBe('')
    expect((await (await get(`/api/v1/admin/audit-logs/export?format=csv&user_id=${none}`)).text()).trimEnd().split('\n')).toHaveLength(1)
  })
})
