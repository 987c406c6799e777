// The superuser pages: users (search, filter, activate / deactivate), live proxy sessions
// (terminate) and the audit log (filters as a GET form). Plain forms and links only: no script,
// no inline style; every value goes through JSX, which escapes it.
import type { Child } from 'hono/jsx'
import type { UserRow } from '../../db/schema'
import { formatMinor } from '../../money/znc'
import type { UserWithBalance } from '../../services/admin-users'
import type { AuditItem } from '../../services/audit-log'
import { Layout, Message, When } from './layout'

/** Rows per page on every admin page. */
export const ADMIN_PAGE_SIZE = 50

export type AdminSection = 'users' | 'sessions' | 'audit'

const SECTIONS: Array<{ id: AdminSection; href: string; label: string }> = [
  { id: 'users', href: '/admin', label: 'Users' },
  { id: 'sessions', href: '/admin/sessions', label: 'Live sessions' },
  { id: 'audit', href: '/admin/audit', label: 'Audit log' },
]

function AdminFrame(props: { user: UserRow; section: AdminSection; title: string; error?: string | null; notice?: string | null; children?: Child }) {
  return (
    <Layout title={props.title} user={props.user}>
      <nav class="admin-nav" aria-label="Admin">
        {SECTIONS.map((s) => (
          // The space keeps the links apart even without the stylesheet.
          <>{s.id === props.section ? <strong aria-current="page">{s.label}</strong> : <a href={s.href}>{s.label}</a>} </>
        ))}
      </nav>
      <Message error={props.error} notice={props.notice} />
      {props.children}
    </Layout>
  )
}

/** Previous / next links that keep the page's filters; nothing when everything fits on one page. */
function Pager(props: { path: string; query: Record<string, string>; page: number; total: number }) {
  const pages = Math.max(1, Math.ceil(props.total / ADMIN_PAGE_SIZE))
  if (pages <= 1 && props.page <= 1) return null
  const href = (page: number) => {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(props.query)) if (v) params.set(k, v)
    if (page > 1) params.set('page', String(page))
    const text = params.toString()
    return text ? `${props.path}?${text}` : props.path
  }
  return (
    <p class="pager">
      {props.page > 1 ? <a href={href(Math.min(props.page - 1, pages))}>← Previous</a> : null}{' '}
      <span class="muted">
        Page {props.page} of {pages} ({props.total} in all)
      </span>{' '}
      {props.page < pages ? <a href={href(props.page + 1)}>Next →</a> : null}
    </p>
  )
}

// ---- users ----

export interface UsersQuery {
  q: string
  /** '' every user, '1' active ones, '0' inactive ones. */
  active: '' | '1' | '0'
  page: number
}

export interface UsersPageData {
  user: UserRow
  query: UsersQuery
  items: UserWithBalance[]
  total: number
}

/** The list's filters as hidden fields, so a button on a row comes back to the same list. */
function BackTo(props: { query: UsersQuery }) {
  return (
    <>
      <input type="hidden" name="q" value={props.query.q} />
      <input type="hidden" name="active" value={props.query.active} />
      <input type="hidden" name="page" value={String(props.query.page)} />
    </>
  )
}

export function UsersPage(props: { data: UsersPageData; error?: string | null; notice?: string | null }) {
  const { data } = props
  const { query } = data
  return (
    <AdminFrame user={data.user} section="users" title="Admin · Users" error={props.error} notice={props.notice}>
      <section class="card">
        <h1>Users</h1>
        <form method="get" action="/admin" class="filters">
          <label>
            Email or username
            <input name="q" type="search" maxlength={255} value={query.q} />
          </label>
          <label>
            Status
            <select name="active">
              <option value="" selected={query.active === ''}>
                All
              </option>
              <option value="1" selected={query.active === '1'}>
                Active
              </option>
              <option value="0" selected={query.active === '0'}>
                Inactive
              </option>
            </select>
          </label>
          <button type="submit">Search</button>
        </form>
        {data.items.length === 0 ? (
          <p class="muted">No user matches.</p>
        ) : (
          <table id="users">
            <thead>
              <tr>
                <th>Email</th>
                <th>Username</th>
                <th>Active</th>
                <th>Superuser</th>
                <th class="num">Balance (ZNC)</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.items.map(({ user: u, balance }) => (
                <tr id={`user-${u.id}`}>
                  <td>{u.email}</td>
                  <td>{u.username}</td>
                  <td>{u.isActive ? 'yes' : 'no'}</td>
                  <td>{u.isSuperuser ? 'yes' : 'no'}</td>
                  <td class="num">{formatMinor(balance)}</td>
                  <td>
                    <When at={u.createdAt} />
                  </td>
                  <td>
                    <form method="post" action={`/admin/users/${u.id}/active`} class="inline">
                      <input type="hidden" name="value" value={u.isActive ? '0' : '1'} />
                      <BackTo query={query} />
                      <button type="submit" class={u.isActive ? 'danger' : ''}>
                        {u.isActive ? 'Deactivate' : 'Activate'}
                      </button>
                    </form>{' '}
                    <a href={`/admin/audit?user_id=${u.id}`}>Audit</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager path="/admin" query={{ q: query.q, active: query.active }} page={query.page} total={data.total} />
      </section>
    </AdminFrame>
  )
}

// ---- live sessions ----

/** A live session as listed: the row with what this instance has counted and not yet written. */
export interface LiveSessionView {
  id: string
  email: string
  username: string
  userId: string
  device: string
  deviceSource: string
  address: string | null
  startedAt: Date
  lastSeenAt: Date
  requests: number
}

export function SessionsPage(props: { user: UserRow; items: LiveSessionView[]; total: number; page: number; error?: string | null; notice?: string | null }) {
  return (
    <AdminFrame user={props.user} section="sessions" title="Admin · Live sessions" error={props.error} notice={props.notice}>
      <section class="card">
        <h1>Live proxy sessions</h1>
        {props.items.length === 0 ? (
          <p class="muted">No device is using Zenzefi right now.</p>
        ) : (
          <table id="sessions">
            <thead>
              <tr>
                <th>User</th>
                <th>Device</th>
                <th>Address</th>
                <th>Started</th>
                <th>Last seen</th>
                <th class="num">Requests</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {props.items.map((s) => (
                <tr id={`session-${s.id}`}>
                  <td>
                    <a href={`/admin/audit?user_id=${s.userId}`}>{s.email}</a>
                  </td>
                  <td>
                    {s.device.slice(0, 80)} <span class="muted">({s.deviceSource})</span>
                  </td>
                  <td>{s.address ?? ''}</td>
                  <td>
                    <When at={s.startedAt} />
                  </td>
                  <td>
                    <When at={s.lastSeenAt} />
                  </td>
                  <td class="num">{String(s.requests)}</td>
                  <td>
                    <form method="post" action={`/admin/sessions/${s.id}/terminate`} class="inline">
                      <input name="reason" maxlength={500} placeholder="Reason (optional)" aria-label="Reason" />
                      <button type="submit" class="danger">
                        Terminate
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager path="/admin/sessions" query={{}} page={props.page} total={props.total} />
      </section>
    </AdminFrame>
  )
}

// ---- audit ----

export interface AuditQuery {
  action: string
  user_id: string
  /** YYYY-MM-DD, UTC, inclusive. */
  from: string
  /** YYYY-MM-DD, UTC, inclusive. */
  to: string
  outcome: string
  page: number
}

export const OUTCOMES = ['success', 'failure', 'denied'] as const

function actorOf(e: AuditItem) {
  return e.actor_id ? `${e.actor_type} ${e.actor_id}` : e.actor_type
}

function subjectOf(e: AuditItem) {
  const resource = e.resource_type ? `${e.resource_type}${e.resource_id ? ` ${e.resource_id}` : ''}` : ''
  return [e.subject_user_id ? `user ${e.subject_user_id}` : '', resource].filter(Boolean).join(' · ')
}

export function AuditPage(props: { user: UserRow; actions: readonly string[]; query: AuditQuery; items: AuditItem[]; total: number; error?: string | null }) {
  const { query } = props
  return (
    <AdminFrame user={props.user} section="audit" title="Admin · Audit log" error={props.error}>
      <section class="card">
        <h1>Audit log</h1>
        <form method="get" action="/admin/audit" class="filters">
          <label>
            Action
            <select name="action">
              <option value="" selected={query.action === ''}>
                Any
              </option>
              {props.actions.map((a) => (
                <option value={a} selected={query.action === a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
          <label>
            User id
            <input name="user_id" maxlength={36} value={query.user_id} placeholder="00000000-0000-0000-0000-000000000000" />
          </label>
          <label>
            From (UTC)
            <input name="from" type="date" value={query.from} />
          </label>
          <label>
            To (UTC)
            <input name="to" type="date" value={query.to} />
          </label>
          <label>
            Outcome
            <select name="outcome">
              <option value="" selected={query.outcome === ''}>
                Any
              </option>
              {OUTCOMES.map((o) => (
                <option value={o} selected={query.outcome === o}>
                  {o}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Filter</button>
        </form>
        {props.items.length === 0 ? (
          <p class="muted">No event matches.</p>
        ) : (
          <table id="audit">
            <thead>
              <tr>
                <th>Time (UTC)</th>
                <th>Action</th>
                <th>Outcome</th>
                <th>Actor</th>
                <th>Subject</th>
                <th>IP</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {props.items.map((e) => (
                <tr id={`event-${e.id}`} data-action={e.action}>
                  <td>
                    <When at={new Date(e.occurred_at)} seconds />
                  </td>
                  <td>{e.action}</td>
                  <td>{e.outcome}</td>
                  <td>{actorOf(e)}</td>
                  <td>{subjectOf(e)}</td>
                  <td>{e.ip ?? ''}</td>
                  <td>
                    <code>{JSON.stringify(e.details)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager
          path="/admin/audit"
          query={{ action: query.action, user_id: query.user_id, from: query.from, to: query.to, outcome: query.outcome }}
          page={query.page}
          total={props.total}
        />
      </section>
    </AdminFrame>
  )
}
