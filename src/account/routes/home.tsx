// GET / (the customer's page) and GET /state (what the page's script refreshes: server time,
// balance, which tokens are live and until when; never a token itself).
import { Hono } from 'hono'
import type { Config } from '../../config'
import type { Db } from '../../db/client'
import type { UserRow } from '../../db/schema'
import type { AppEnv } from '../../http/router'
import { formatMinor } from '../../money/znc'
import type { AccountSessions } from '../../services/account-sessions'
import type { Clock } from '../../services/clock'
import { balanceOf, history } from '../../services/ledger'
import type { Payments } from '../../services/payments'
import type { SessionService } from '../../services/sessions'
import { ALLOWED_DURATIONS, type TokenService } from '../../services/tokens'
import { formKey } from '../form'
import { sameOriginRead } from '../same-origin'
import { signedIn } from '../signed-in'
import { type HomeData, HomePage } from '../views/home'

/** Fixed notices a redirect may name (`?notice=`): a query string never puts its own text on the page. */
const NOTICES: Record<string, string> = {
  bought: 'Token bought. Open Zenzefi with it when you are ready: its time starts then.',
  revoked: 'Token revoked.',
  paid: 'Thank you. Your balance grows as soon as the payment is confirmed.',
  ended: 'Session ended.',
}

export interface HomeDeps {
  db: Db
  config: Config
  clock: Clock
  tokens: TokenService
  payments: Payments
  sessions: AccountSessions
  proxySessions: SessionService
}

export async function homeData(deps: HomeDeps, user: UserRow): Promise<HomeData> {
  const { db, config } = deps
  const [balanceMinor, tokens, payments, page, live, browsers] = await Promise.all([
    balanceOf(db, user.id),
    deps.tokens.summariesForUser(user.id, false),
    deps.payments.listForUser(user.id, 10),
    history(db, user.id, { limit: 20, offset: 0 }),
    deps.proxySessions.list({ userId: user.id, active: true, limit: 20, offset: 0 }),
    deps.sessions.countFor(user.id),
  ])
  return {
    user,
    now: deps.clock.now(),
    balanceMinor,
    tokens,
    prices: ALLOWED_DURATIONS.map((hours) => ({ hours, priceMinor: config.tokenPrices[hours] ?? 0 })),
    payments,
    history: page.items,
    sessions: live.items,
    keys: { buy: formKey(), topUp: formKey() },
    topUp: {
      available: config.paymentProvider !== null,
      minMinor: config.minTopupMinor,
      maxMinor: config.maxTopupMinor,
      rubPerZnc: config.zncToRubRate.text,
    },
    signedInBrowsers: browsers,
  }
}

export function homeRoutes(deps: HomeDeps & { accountOrigin: string }) {
  const router = new Hono<AppEnv>()
  router.get('/', signedIn(deps.sessions), async (c) => {
    const notice = NOTICES[c.req.query('notice') ?? ''] ?? null
    return c.html(<HomePage data={await homeData(deps, c.get('user'))} notice={notice} />)
  })
  router.get('/state', sameOriginRead(deps.accountOrigin), signedIn(deps.sessions, { json: true }), async (c) => {
    const user = c.get('user')
    const now = deps.clock.now()
    const [balance, tokens] = await Promise.all([balanceOf(deps.db, user.id), deps.tokens.summariesForUser(user.id, false)])
    return c.json({
      now: now.toISOString(),
      balance: formatMinor(balance),
      tokens: tokens.map((t) => ({
        id: t.id,
        live: t.isActive && (t.expiresAt === null || t.expiresAt > now),
        expires_at: t.expiresAt?.toISOString() ?? null,
      })),
    })
  })
  return router
}
