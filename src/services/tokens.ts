import { and, desc, eq, gt, isNull, or, type SQL, sql } from 'drizzle-orm'
import type { TokenCache, TokenGrant } from '../cache/interface'
import { generateAccessToken, hashAccessToken, TOKEN_PATTERN, type TokenCipher } from '../crypto/access-token'
import type { Db } from '../db/client'
import { type AccessTokenRow, accessLocks, accessTokens, users } from '../db/schema'
import { type GatewayMetrics, gatewayMetrics } from '../metrics/gateway'
import { noopMetrics } from '../metrics/interface'
import { formatMinor } from '../money/znc'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'
import { balanceOf, lockWallet, moneyTransaction, post, requireFunds } from './ledger'
import { lockInForce } from './locks'
import { andThen, type MaybePromise } from './maybe-async'

/** A presented token that is known: its lookup hash and its grant. */
type Found = { hash: string; grant: TokenGrant }

export const ALLOWED_DURATIONS = [1, 12, 24, 168, 720] as const
const HOUR_MS = 3_600_000
// A token not yet used has no expiry; its cache entry is still refreshed hourly.
const UNACTIVATED_TTL_S = 3_600

export interface TokenView extends TokenSummary {
  /** null only if SECRET_KEY changed since purchase (the stored copy can no longer be decrypted). */
  token: string | null
}

/** A token as listed on a page: everything but the token itself, so listing decrypts nothing. */
export interface TokenSummary {
  id: string
  durationHours: number
  createdAt: Date
  activatedAt: Date | null
  expiresAt: Date | null
  isActive: boolean
  /** What was paid for it (ZNC minor units): the refund if it is revoked unused. */
  costMinor: number
  /** Revoking it now gives the money back: live, never used, and paid for. */
  refundable: boolean
}

export interface Purchased {
  token: TokenView
  costMinor: number
  newBalance: number
}

/** What the proxy knows about the request that first uses a token (its ProxyRequest fits): read only on activation. */
export interface FirstUse {
  clientIp: string
  requestId: string
  header(name: string): string | null | undefined
}

export interface Revoked {
  token: TokenView
  refundMinor: number
  newBalance: number
}

export function createTokenService(deps: {
  db: Db
  cache: TokenCache
  cipher: TokenCipher
  clock: Clock
  /** SHA-256 hex of a token; Node passes a synchronous one (WebCrypto's thread hop costs ~10 µs per check). */
  hashToken?: (token: string) => string | Promise<string>
  /** false where the database client lives for a single request (Workers). */
  prepareQueries?: boolean
  /** zenzefi_token_checks_total: the shape refusals (tier memory, invalid) and the PostgreSQL tier; the cache counts its own tiers. */
  metrics?: GatewayMetrics
  /** TOKEN_PRICE_*: each duration's price in ZNC minor units; absent durations are free. */
  prices?: Record<number, number>
  /** Purchases, revocations and activations write their audit event in their own transaction. */
  audit?: Audit
}) {
  const { db, cache, cipher, clock, audit } = deps
  const prices = deps.prices ?? {}
  const checks = (deps.metrics ?? gatewayMetrics(noopMetrics)).tokenChecks
  const hashToken = deps.hashToken ?? hashAccessToken

  const isLive = (row: Pick<AccessTokenRow, 'isActive' | 'expiresAt'>, now: Date) => row.isActive && (row.expiresAt === null || row.expiresAt > now)

  const summary = (row: AccessTokenRow, now: Date): TokenSummary => ({
    id: row.id,
    durationHours: row.durationHours,
    createdAt: row.createdAt,
    activatedAt: row.activatedAt,
    expiresAt: row.expiresAt,
    isActive: isLive(row, now),
    costMinor: row.costMinor,
    refundable: row.isActive && row.activatedAt === null && row.costMinor > 0,
  })
  const view = async (row: AccessTokenRow, now: Date): Promise<TokenView> => ({ ...summary(row, now), token: await cipher.decrypt(row.tokenCiphertext) })

  const ttlSeconds = (g: TokenGrant, nowMs: number) => (g.expiresAt === null ? UNACTIVATED_TTL_S : Math.floor((g.expiresAt - nowMs) / 1000))

  // The last tier runs on every cache miss, and re-planning the join each time triples its
  // cost, so it is prepared once — except where the database client lives for one request
  // only (Workers), where a prepared statement would outlive its connection.
  // The strongest lock on the token or its owner rides along (none first, else the latest expiry:
  // if that one has lapsed, all have), so a lock costs no query of its own.
  const strongestLock = (column: SQL) =>
    sql`(select ${column} from ${accessLocks} where ${accessLocks.liftedAt} is null and ((${accessLocks.targetType} = 'user' and ${accessLocks.targetId} = ${users.id}) or (${accessLocks.targetType} = 'token' and ${accessLocks.targetId} = ${accessTokens.id})) order by ${accessLocks.expiresAt} desc nulls first limit 1)`
  const grantQuery = (where: SQL | undefined) =>
    db
      .select({
        tokenId: accessTokens.id,
        userId: accessTokens.userId,
        durationHours: accessTokens.durationHours,
        activatedAt: accessTokens.activatedAt,
        expiresAt: accessTokens.expiresAt,
        lockMessage: strongestLock(sql`${accessLocks.message}`).mapWith((v: string | null) => v),
        lockExpiresAt: strongestLock(sql`floor(extract(epoch from ${accessLocks.expiresAt}) * 1000)::float8`).mapWith((v: unknown) =>
          v === null ? null : Number(v),
        ),
      })
      .from(accessTokens)
      .innerJoin(users, eq(users.id, accessTokens.userId))
      .where(and(where, eq(accessTokens.isActive, true), eq(users.isActive, true)))
      .limit(1)
  type GrantRow = Awaited<ReturnType<typeof grantQuery>>[number]
  const lookupBy = (column: typeof accessTokens.tokenHash | typeof accessTokens.id, name: string): ((key: string) => Promise<GrantRow[]>) => {
    if (deps.prepareQueries === false) return (key) => grantQuery(eq(column, key))
    const prepared = grantQuery(eq(column, sql.placeholder('key'))).prepare(name)
    return (key) => prepared.execute({ key })
  }
  const grantByHash = lookupBy(accessTokens.tokenHash, 'zz_grant_by_hash')
  const grantById = lookupBy(accessTokens.id, 'zz_grant_by_id')

  /** Postgres, the last tier: a grant only for a live token whose owner is active. */
  const loadGrant = async (query: typeof grantByHash, key: string): Promise<TokenGrant | null> => {
    const [row] = await query(key)
    if (!row) return null
    const { lockMessage, lockExpiresAt, ...grant } = row
    const lock = lockMessage === null ? {} : { lock: { message: lockMessage, expiresAt: lockExpiresAt } }
    return { ...grant, activatedAt: row.activatedAt?.getTime() ?? null, expiresAt: row.expiresAt?.getTime() ?? null, ...lock }
  }

  /** The grant for a presented token through the three tiers, expired or not; null if unknown, revoked or owner inactive. */
  const lookup = (token: string): MaybePromise<Found | null> => {
    if (!TOKEN_PATTERN.test(token)) {
      checks.memory.invalid.inc()
      return null
    }
    // An in-process hit with a synchronous hash (Node) is answered without a promise.
    return andThen(hashToken(token), (hash) => andThen(cache.get(hash), (cached) => (cached ? { hash, grant: cached } : loadAndCache(hash))))
  }

  /** Past the cache: PostgreSQL, and the grant cached for next time. */
  const loadAndCache = async (hash: string): Promise<Found | null> => {
    const grant = await loadGrant(grantByHash, hash)
    if (!grant) {
      checks.postgres.miss.inc()
      return null
    }
    checks.postgres.hit.inc()
    const ttl = ttlSeconds(grant, clock.now().getTime())
    if (ttl > 0) await cache.set(hash, grant, ttl)
    return { hash, grant }
  }

  const liveAt = (now: Date) => and(eq(accessTokens.isActive, true), or(isNull(accessTokens.expiresAt), gt(accessTokens.expiresAt, now)))
  const rowsOf = (userId: string, activeOnly: boolean, now: Date) =>
    db
      .select()
      .from(accessTokens)
      .where(activeOnly ? and(eq(accessTokens.userId, userId), liveAt(now)) : eq(accessTokens.userId, userId))
      .orderBy(desc(accessTokens.createdAt), desc(accessTokens.id))

  const expired = (g: TokenGrant, nowMs: number) => g.expiresAt !== null && g.expiresAt <= nowMs

  const service = {
    /**
     * Buys a token inside the caller's money transaction: the price is debited, the token
     * stored with the price paid, both or neither. The token is made before any lock is taken.
     */
    async purchaseIn(tx: Db, userId: string, durationHours: number, ctx?: AuditContext): Promise<Purchased> {
      if (!(ALLOWED_DURATIONS as readonly number[]).includes(durationHours)) {
        throw new DomainError('invalid_duration', `Invalid duration. Must be one of: [${ALLOWED_DURATIONS.join(', ')}]`, { allowed: ALLOWED_DURATIONS })
      }
      const price = prices[durationHours] ?? 0
      const token = generateAccessToken()
      const [tokenHash, tokenCiphertext] = await Promise.all([hashToken(token), cipher.encrypt(token)])
      const now = clock.now()
      // The wallet row lock orders concurrent purchases of one user; other users never wait.
      const wallet = price > 0 ? await lockWallet(tx, userId) : null
      if (wallet) requireFunds(wallet.balance, price)
      const [row] = await tx.insert(accessTokens).values({ userId, tokenHash, tokenCiphertext, durationHours, createdAt: now, costMinor: price }).returning()
      let newBalance = wallet?.balance ?? (await balanceOf(tx, userId))
      if (price > 0) {
        const done = await post(tx, {
          kind: 'purchase',
          reference: row!.id,
          userId,
          description: `Access token, ${durationHours} h`,
          walletAmount: -price,
          against: 'revenue',
          tokenId: row!.id,
        })
        if (done.posted) newBalance = done.balanceAfter
      }
      await audit?.record(tx, {
        action: 'token.purchase',
        ...(ctx ?? { actorType: 'user', actorId: userId }),
        subjectUserId: userId,
        resourceType: 'access_token',
        resourceId: row!.id,
        details: { duration_hours: durationHours, cost_znc: formatMinor(price) },
      })
      return { token: { ...(await view(row!, now)), token }, costMinor: price, newBalance }
    },

    /** The user's tokens, newest first, each with the token itself (the JSON API shows it). */
    async listForUser(userId: string, activeOnly: boolean): Promise<TokenView[]> {
      const now = clock.now()
      return Promise.all((await rowsOf(userId, activeOnly, now)).map((r) => view(r, now)))
    },

    /** The same list without the tokens: what a page shows, decrypting none. */
    async summariesForUser(userId: string, activeOnly: boolean): Promise<TokenSummary[]> {
      const now = clock.now()
      return (await rowsOf(userId, activeOnly, now)).map((r) => summary(r, now))
    },

    /** One live token of the user's, decrypted (Copy on the account page); null if it isn't theirs or isn't live. */
    async revealOwn(userId: string, tokenId: string): Promise<string | null> {
      const [row] = await db
        .select()
        .from(accessTokens)
        .where(and(eq(accessTokens.id, tokenId), eq(accessTokens.userId, userId), liveAt(clock.now())))
      return row ? cipher.decrypt(row.tokenCiphertext) : null
    },

    /**
     * Revokes the caller's own token inside the caller's money transaction, refunding the
     * price paid if it was never used. The row lock decides a race with its first use:
     * activation waits for this, then finds the token revoked (or this finds it activated).
     * Call `forget` with the result after the transaction commits.
     */
    async revokeIn(tx: Db, userId: string, tokenId: string, ctx?: AuditContext): Promise<Revoked & { hash: string }> {
      const now = clock.now()
      const [current] = await tx
        .select()
        .from(accessTokens)
        .where(and(eq(accessTokens.id, tokenId), eq(accessTokens.userId, userId)))
        .for('update')
      if (!current) throw new DomainError('token_not_found')
      const refundable = current.isActive && current.activatedAt === null && current.costMinor > 0
      const [row] = current.isActive
        ? await tx.update(accessTokens).set({ isActive: false, revokedAt: now }).where(eq(accessTokens.id, tokenId)).returning()
        : [current]
      let refundMinor = 0
      let newBalance: number | null = null
      if (refundable) {
        const done = await post(tx, {
          kind: 'refund',
          reference: tokenId,
          userId,
          description: `Refund: unused access token, ${current.durationHours} h`,
          walletAmount: current.costMinor,
          against: 'revenue',
          tokenId,
        })
        if (done.posted) {
          refundMinor = current.costMinor
          newBalance = done.balanceAfter
        }
      }
      // Revoking an already revoked token changes nothing, so it is not an event.
      if (current.isActive) {
        const by = ctx?.actorType === 'admin' ? 'admin' : 'user'
        await audit?.record(tx, {
          action: 'token.revoke',
          ...(ctx ?? { actorType: 'user', actorId: userId }),
          subjectUserId: userId,
          resourceType: 'access_token',
          resourceId: tokenId,
          details: { refund_znc: formatMinor(refundMinor), by },
        })
      }
      return { token: await view(row!, now), refundMinor, newBalance: newBalance ?? (await balanceOf(tx, userId)), hash: current.tokenHash }
    },

    /** After a revocation committed: every tier on every instance forgets the token before this resolves. */
    forget: (hash: string) => cache.invalidate([hash]),

    /**
     * For proxy requests and WebSocket upgrades: a valid grant, activating the token
     * on first use. Two first uses racing activate it once; both get the same expiry.
     */
    validateAndActivate: async (token: string, from?: FirstUse): Promise<TokenGrant | null> => (await authorize(token, from))?.grant ?? null,

    /** validateAndActivate, also giving the token's hash (what invalidations name) for closing its open streams. */
    authorize,

    /** Read-only check for /status, /authenticate and the ?token= redirect: never starts the clock. */
    async checkStatus(token: string): Promise<TokenGrant | null> {
      const found = await lookup(token)
      if (!found || expired(found.grant, clock.now().getTime())) return null
      return found.grant
    },

    /** purchaseIn in a transaction of its own (CLI, tests, benchmarks). */
    purchase: (userId: string, durationHours: number): Promise<Purchased> => moneyTransaction(db, (tx) => service.purchaseIn(tx, userId, durationHours)),

    /** revokeIn in a transaction of its own, then forgotten everywhere. */
    async revoke(userId: string, tokenId: string): Promise<Revoked> {
      const done = await moneyTransaction(db, (tx) => service.revokeIn(tx, userId, tokenId))
      await service.forget(done.hash)
      return done
    },
  }
  return service

  /** A valid grant for the token, activating it on first use; synchronous for a cached, activated token. */
  function authorize(token: string, from?: FirstUse): MaybePromise<Found | null> {
    return andThen(lookup(token), (found) => {
      if (!found) return null
      const now = clock.now()
      const { grant } = found
      if (grant.expiresAt !== null) return expired(grant, now.getTime()) ? null : found
      // A locked token's clock does not start: the authorize step refuses it as it is.
      if (lockInForce(grant, now.getTime())) return found
      return activate(found, now, from)
    })
  }

  /** The first use of a token: its clock starts now (once, however many first uses race). */
  async function activate({ hash, grant }: Found, now: Date, from?: FirstUse): Promise<Found | null> {
    const expiresAt = now.getTime() + grant.durationHours * HOUR_MS
    const start = (q: Db) =>
      q
        .update(accessTokens)
        .set({ activatedAt: now, expiresAt: new Date(expiresAt) })
        .where(and(eq(accessTokens.id, grant.tokenId), isNull(accessTokens.activatedAt), eq(accessTokens.isActive, true)))
        .returning({ id: accessTokens.id })
    // Only a not-yet-activated grant gets here, so this transaction runs about once per token, never per request;
    // only the winner of a first-use race writes the event.
    const [won] = audit
      ? await db.transaction(async (t) => {
          const tx = t as unknown as Db
          const rows = await start(tx)
          if (rows[0]) {
            await audit.record(tx, {
              action: 'token.activate',
              actorType: 'user',
              actorId: grant.userId,
              subjectUserId: grant.userId,
              resourceType: 'access_token',
              resourceId: grant.tokenId,
              ip: from?.clientIp,
              userAgent: from?.header('user-agent'),
              requestId: from?.requestId,
              details: { duration_hours: grant.durationHours },
            })
          }
          return rows
        })
      : await start(db)
    // Lost the race (or revoked meanwhile): whatever the database now holds is the truth.
    const fresh = won ? { ...grant, activatedAt: now.getTime(), expiresAt } : await loadGrant(grantById, grant.tokenId)
    if (!fresh || expired(fresh, now.getTime())) {
      await cache.invalidate([hash])
      return null
    }
    await cache.set(hash, fresh, ttlSeconds(fresh, now.getTime()))
    return { hash, grant: fresh }
  }
}

export type TokenService = ReturnType<typeof createTokenService>
