// Superuser pages on the account origin (users, live sessions, audit), over the same services
// and queries as the admin API (src/routes/admin/). Signed-in superusers only; unsafe requests
// are already refused app-wide unless they come from this origin (sameOriginOnly).
import { type Context, Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Db } from '../../db/client'
import type { DeviceSessions } from '../../gateway/device-sessions'
import { auditContext } from '../../http/audit-context'
import { toHttpError } from '../../http/errors'
import type { AppEnv } from '../../http/router'
import { filtersOf } from '../../routes/admin/audit'
import { sessionOut, TerminateIn } from '../../routes/admin/sessions'
import type { AccountSessions } from '../../services/account-sessions'
import type { AdminUsers } from '../../services/admin-users'
import { AUDIT_ACTIONS } from '../../services/audit'
import { listAudit } from '../../services/audit-log'
import type { SessionService } from '../../services/sessions'
import { UUID } from '../../services/uuid'
import { formOf } from '../form'
import { signedIn, superuserOnly } from '../signed-in'
import { ADMIN_PAGE_SIZE, AuditPage, type AuditQuery, type LiveSessionView, OUTCOMES, SessionsPage, UsersPage, type UsersQuery } from '../views/admin'
import { ErrorPage } from '../views/home'

export interface AdminPageDeps {
  db: Db
  sessions: AccountSessions
  adminUsers: AdminUsers
  proxySessions: SessionService
  devices: DeviceSessions | null
}

/** Fixed notices a redirect may name (`?notice=`): a query string never puts its own text on the page. */
const NOTICES: Record<string, string> = {
  deactivated: 'User deactivated: their tokens, proxy sessions and account sign-ins are over.',
  activated: 'User activated.',
  terminated: 'Session terminated.',
}

type Notice = { error?: string | null; notice?: string | null }

const ACTIONS = Object.keys(AUDIT_ACTIONS)
/** The API's own ceiling on an offset (src/routes/admin/sessions.ts Paging). */
const MAX_OFFSET = 10_000_000
const DATE = /^\d{4}-\d{2}-\d{2}$/

/** ?page= as a 1-based page number; anything else is the first page. */
function pageOf(text: string | undefined): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) return 1
  return Math.min(n, Math.floor(MAX_OFFSET / ADMIN_PAGE_SIZE) + 1)
}
const offsetOf = (page: number) => (page - 1) * ADMIN_PAGE_SIZE

function usersQueryOf(get: (name: string) => string | undefined): UsersQuery {
  const active = get('active')
  return {
    q: (get('q') ?? '').trim().slice(0, 255),
    active: active === '1' || active === '0' ? active : '',
    page: pageOf(get('page')),
  }
}

/** Midnight UTC of a YYYY-MM-DD, `days` later; null if it is no date. */
function dayStart(text: string, days = 0): Date | null {
  if (!DATE.test(text)) return null
  const d = new Date(`${text}T00:00:00.000Z`)
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text) return null
  return new Date(d.getTime() + days * 86_400_000)
}

export function adminPageRoutes(deps: AdminPageDeps) {
  const { db, sessions, adminUsers, proxySessions, devices } = deps
  const router = new Hono<AppEnv>()
  // In Hono '/admin/*' matches '/admin' itself too: one guard for every admin page.
  router.use('/admin/*', signedIn(sessions), superuserOnly)

  const notFound = (c: Context<AppEnv>, what: string) =>
    c.html(<ErrorPage user={c.get('user')} title={`${what} not found`} message={`There is no such ${what.toLowerCase()}.`} />, 404)

  const usersPage = async (c: Context<AppEnv>, query: UsersQuery, message: Notice, status: ContentfulStatusCode = 200) => {
    const page = await adminUsers.list({
      search: query.q || undefined,
      isActive: query.active === '' ? undefined : query.active === '1',
      limit: ADMIN_PAGE_SIZE,
      offset: offsetOf(query.page),
    })
    return c.html(<UsersPage data={{ user: c.get('user'), query, items: page.items, total: page.total }} {...message} />, status)
  }

  const sessionsPage = async (c: Context<AppEnv>, page: number, message: Notice, status: ContentfulStatusCode = 200) => {
    const { items, total } = await proxySessions.list({ active: true, limit: ADMIN_PAGE_SIZE, offset: offsetOf(page) })
    const views: LiveSessionView[] = items.map((r) => {
      // With what this instance has counted and not yet written, as the admin API lists them.
      const s = sessionOut(r, devices)
      return {
        id: s.id,
        email: s.user.email,
        username: s.user.username,
        userId: s.user.id,
        device: s.user_agent ?? s.device.source,
        deviceSource: s.device.source,
        address: s.last_ip ?? s.first_ip,
        startedAt: new Date(s.started_at),
        lastSeenAt: new Date(s.last_seen_at),
        requests: s.requests,
      }
    })
    return c.html(<SessionsPage user={c.get('user')} items={views} total={total} page={page} {...message} />, status)
  }

  // ---- users ----

  router.get('/admin', async (c) => {
    const query = usersQueryOf((name) => c.req.query(name))
    return usersPage(c, query, { notice: NOTICES[c.req.query('notice') ?? ''] ?? null })
  })

  router.post('/admin/users/:id/active', async (c) => {
    const id = c.req.param('id')
    if (!UUID.test(id)) return notFound(c, 'User')
    const form = await formOf(c)
    const query = usersQueryOf((name) => form[name])
    if (form.value !== '0' && form.value !== '1') return usersPage(c, query, { error: 'value must be 0 or 1.' }, 422)
    const isActive = form.value === '1'
    try {
      await adminUsers.update(id, { isActive }, auditContext(c, 'admin'))
    } catch (err) {
      const known = toHttpError(err)
      if (!known) throw err
      for (const [k, v] of Object.entries(known.headers)) c.header(k, v)
      return usersPage(c, query, { error: known.detail }, known.status)
    }
    // adminUsers.update has already refused the user's tokens everywhere; their account-page sign-ins end here.
    if (!isActive) await sessions.endAllFor(id)
    const back = new URLSearchParams()
    if (query.q) back.set('q', query.q)
    if (query.active) back.set('active', query.active)
    if (query.page > 1) back.set('page', String(query.page))
    back.set('notice', isActive ? 'activated' : 'deactivated')
    return c.redirect(`/admin?${back}`, 303)
  })

  // ---- live sessions ----

  router.get('/admin/sessions', (c) => sessionsPage(c, pageOf(c.req.query('page')), { notice: NOTICES[c.req.query('notice') ?? ''] ?? null }))

  router.post('/admin/sessions/:id/terminate', async (c) => {
    const id = c.req.param('id')
    if (!UUID.test(id)) return notFound(c, 'Session')
    const form = await formOf(c)
    const parsed = TerminateIn.safeParse({ reason: form.reason ?? null })
    if (!parsed.success) return sessionsPage(c, 1, { error: `reason: ${parsed.error.issues[0]!.message}` }, 422)
    const done = await proxySessions.terminate(id, { reason: parsed.data.reason || null, ctx: auditContext(c, 'admin') })
    if (done === null) return notFound(c, 'Session')
    if (done === 'ended') return sessionsPage(c, 1, { error: 'Session already ended' }, 409)
    // Every instance closes that device's sockets and streams (as the admin API does).
    await devices?.announceTerminated(id)
    return c.redirect('/admin/sessions?notice=terminated', 303)
  })

  // ---- audit ----

  router.get('/admin/audit', async (c) => {
    const text = (name: string) => (c.req.query(name) ?? '').trim()
    const query: AuditQuery = {
      action: text('action').slice(0, 64),
      user_id: text('user_id').slice(0, 36),
      from: text('from').slice(0, 10),
      to: text('to').slice(0, 10),
      outcome: text('outcome').slice(0, 16),
      page: pageOf(c.req.query('page')),
    }
    const since = query.from ? dayStart(query.from) : null
    // "To" is the whole day: until the next midnight, exclusive.
    const until = query.to ? dayStart(query.to, 1) : null
    const problem =
      query.action && !ACTIONS.includes(query.action)
        ? 'Unknown action.'
        : query.user_id && !UUID.test(query.user_id)
          ? 'User id must be a UUID.'
          : (query.from && !since) || (query.to && !until)
            ? 'Dates must be YYYY-MM-DD.'
            : query.outcome && !(OUTCOMES as readonly string[]).includes(query.outcome)
              ? 'Unknown outcome.'
              : null
    const user = c.get('user')
    if (problem) return c.html(<AuditPage user={user} actions={ACTIONS} query={query} items={[]} total={0} error={problem} />, 422)
    const filters = {
      ...filtersOf({
        action: query.action || undefined,
        user_id: query.user_id || undefined,
        since: since?.toISOString(),
        until: until?.toISOString(),
      }),
      outcome: query.outcome || undefined,
    }
    const page = await listAudit(db, filters, { limit: ADMIN_PAGE_SIZE, offset: offsetOf(query.page) })
    return c.html(<AuditPage user={user} actions={ACTIONS} query={query} items={page.items} total={page.total} />)
  })

  return router
}
