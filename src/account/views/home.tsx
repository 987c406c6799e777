// The signed-in customer's page: balance and top-up, buying, each token with Open / Copy / Revoke
// and its time left, the history, and their own sessions. Every action is a plain form (works
// without JavaScript); the script only adds the live countdown, copying and refreshing.
// No access token is ever written into this HTML: Copy asks for it when pressed.
import type { UserRow } from '../../db/schema'
import { formatMinor } from '../../money/znc'
import type { HistoryItem } from '../../services/ledger'
import type { PaymentView } from '../../services/payments'
import type { SessionListRow } from '../../services/sessions'
import type { TokenSummary } from '../../services/tokens'
import { Layout, Message, When } from './layout'

export interface HomeData {
  user: UserRow
  now: Date
  balanceMinor: number
  tokens: TokenSummary[]
  prices: Array<{ hours: number; priceMinor: number }>
  payments: PaymentView[]
  history: HistoryItem[]
  sessions: SessionListRow[]
  /** Fresh Idempotency keys for this page's money forms: a double submit buys once. */
  keys: { buy: string; topUp: string }
  topUp: { available: boolean; minMinor: number; maxMinor: number; rubPerZnc: string }
  signedInBrowsers: number
}

const durationLabel = (h: number) => (h % 24 === 0 ? `${h / 24} day${h === 24 ? '' : 's'}` : `${h} hour${h === 1 ? '' : 's'}`)

export function timeLeft(ms: number): string {
  if (ms <= 0) return 'expired'
  const s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400)
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0')
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0')
  const ss = String(s % 60).padStart(2, '0')
  return `${d > 0 ? `${d}d ` : ''}${hh}:${mm}:${ss}`
}

function tokenState(t: TokenSummary, now: Date): { label: string; live: boolean } {
  if (!t.isActive && t.expiresAt && t.expiresAt <= now) return { label: 'expired', live: false }
  if (!t.isActive) return { label: 'revoked', live: false }
  if (t.expiresAt && t.expiresAt <= now) return { label: 'expired', live: false }
  if (!t.expiresAt) return { label: 'not used yet', live: true }
  return { label: 'active', live: true }
}

function TokenRow(props: { t: TokenSummary; now: Date }) {
  const { t, now } = props
  const state = tokenState(t, now)
  return (
    <li class={`token ${state.live ? 'live' : 'over'}`} id={`token-${t.id}`} data-token-id={t.id}>
      <div class="token-head">
        <strong>{durationLabel(t.durationHours)}</strong>
        <span class="state" data-state>
          {state.label}
        </span>
        <code class="token-id" title="Token id">
          {t.id.slice(0, 8)}
        </code>
      </div>
      {state.live ? (
        t.expiresAt ? (
          <p class="left">
            Time left:{' '}
            <time class="countdown" datetime={t.expiresAt.toISOString()} data-expires={t.expiresAt.toISOString()}>
              {timeLeft(t.expiresAt.getTime() - now.getTime())}
            </time>
          </p>
        ) : (
          <p class="left">Its time ({durationLabel(t.durationHours)}) starts when you first open Zenzefi with it.</p>
        )
      ) : null}
      {state.live ? (
        <div class="actions">
          <form method="post" action={`/tokens/${t.id}/launch`} target="_blank" rel="noopener noreferrer" class="inline">
            <button type="submit" class="primary" data-launch>
              Open Zenzefi
            </button>
          </form>
          <form method="post" action={`/tokens/${t.id}/reveal`} class="inline" data-copy>
            <button type="submit">Copy token</button>
          </form>
          <form method="post" action={`/tokens/${t.id}/revoke`} class="inline" data-confirm="Revoke this token? It stops working at once.">
            <button type="submit" class="danger">
              Revoke{t.refundable ? ` (refund ${formatMinor(t.costMinor)} ZNC)` : ''}
            </button>
          </form>
        </div>
      ) : null}
    </li>
  )
}

export function HomePage(props: { data: HomeData; error?: string | null; notice?: string | null }) {
  const d = props.data
  const live = d.tokens.filter((t) => tokenState(t, d.now).live)
  const over = d.tokens.filter((t) => !tokenState(t, d.now).live).slice(0, 10)
  return (
    <Layout title="Account" user={d.user}>
      <div id="account" data-server-now={d.now.toISOString()}>
        <Message error={props.error} notice={props.notice} />
        <section class="card">
          <h2>Balance</h2>
          <p class="balance">
            <span id="balance">{formatMinor(d.balanceMinor)}</span> ZNC
          </p>
          {d.topUp.available ? (
            <form method="post" action="/topup" class="row">
              <input type="hidden" name="key" value={d.keys.topUp} />
              <label>
                Top up (ZNC)
                <input
                  name="amount_znc"
                  inputmode="decimal"
                  required
                  pattern="[0-9]+([.,][0-9]{1,2})?"
                  placeholder={formatMinor(d.topUp.minMinor)}
                  title={`From ${formatMinor(d.topUp.minMinor)} to ${formatMinor(d.topUp.maxMinor)} ZNC`}
                />
              </label>
              <button type="submit">Pay</button>
              <small>1 ZNC = {d.topUp.rubPerZnc} RUB</small>
            </form>
          ) : (
            <p class="muted">Top-ups are not available on this server.</p>
          )}
        </section>

        <section class="card">
          <h2>Buy access</h2>
          <form method="post" action="/tokens" class="row">
            <input type="hidden" name="key" value={d.keys.buy} />
            <label>
              Duration
              <select name="duration_hours">
                {d.prices.map((p) => (
                  <option value={String(p.hours)}>
                    {durationLabel(p.hours)} — {p.priceMinor === 0 ? 'free' : `${formatMinor(p.priceMinor)} ZNC`}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" class="primary">
              Buy
            </button>
          </form>
        </section>

        <section class="card">
          <h2>Your access tokens</h2>
          {live.length === 0 ? <p class="muted">No live token. Buy one above.</p> : null}
          <ul class="tokens" id="tokens">
            {live.map((t) => (
              <TokenRow t={t} now={d.now} />
            ))}
          </ul>
          {over.length > 0 ? (
            <details>
              <summary>Past tokens ({over.length})</summary>
              <ul class="tokens">
                {over.map((t) => (
                  <TokenRow t={t} now={d.now} />
                ))}
              </ul>
            </details>
          ) : null}
        </section>

        <section class="card">
          <h2>Where you are signed in to Zenzefi</h2>
          {d.sessions.length === 0 ? (
            <p class="muted">No device is using your tokens right now.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Device</th>
                  <th>Address</th>
                  <th>Since</th>
                  <th>Last seen</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {d.sessions.map((s) => (
                  <tr>
                    <td>{(s.userAgent ?? s.deviceSource).slice(0, 80)}</td>
                    <td>{s.lastIp ?? ''}</td>
                    <td>
                      <When at={s.startedAt} />
                    </td>
                    <td>
                      <When at={s.lastSeenAt} />
                    </td>
                    <td>
                      <form method="post" action={`/sessions/${s.id}/end`} class="inline">
                        <button type="submit" class="danger">
                          End
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form method="post" action="/logout" class="inline">
            <input type="hidden" name="everywhere" value="1" />
            <button type="submit" class="link">
              Log out of this page everywhere ({d.signedInBrowsers} {d.signedInBrowsers === 1 ? 'browser' : 'browsers'})
            </button>
          </form>
        </section>

        <section class="card">
          <h2>History</h2>
          {d.history.length === 0 ? (
            <p class="muted">Nothing yet.</p>
          ) : (
            <table id="history">
              <thead>
                <tr>
                  <th>When</th>
                  <th>What</th>
                  <th class="num">ZNC</th>
                  <th class="num">Balance</th>
                </tr>
              </thead>
              <tbody>
                {d.history.map((h) => (
                  <tr>
                    <td>
                      <When at={h.createdAt} />
                    </td>
                    <td>{h.description}</td>
                    <td class="num">{(h.amount > 0 ? '+' : '') + formatMinor(h.amount)}</td>
                    <td class="num">{formatMinor(h.balanceAfter)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {d.payments.some((p) => p.status === 'pending') ? (
            <p class="muted">
              A payment is still pending: the balance grows once the provider confirms it. <a href="/">Refresh</a>
            </p>
          ) : null}
        </section>
      </div>
    </Layout>
  )
}

/** Copy without JavaScript: the token on a page of its own, shown only because the user asked. */
export function RevealPage(props: { user: UserRow; token: string }) {
  return (
    <Layout title="Your token" user={props.user}>
      <section class="card narrow">
        <h1>Your access token</h1>
        <p>Select it and copy it; keep it to yourself.</p>
        <p>
          <code class="secret">{props.token}</code>
        </p>
        <p>
          <a href="/">Back</a>
        </p>
      </section>
    </Layout>
  )
}

export function ErrorPage(props: { user?: UserRow | null; title: string; message: string }) {
  return (
    <Layout title={props.title} user={props.user ?? null}>
      <section class="card narrow">
        <h1>{props.title}</h1>
        <p>{props.message}</p>
        <p>
          <a href="/">Back to your account</a>
        </p>
      </section>
    </Layout>
  )
}
