// Proxy sessions in the database: one device's use of one token. Started (or
// joined) under the token's row lock, so DEVICE_LIMIT holds however many first
// requests race; counted in batches from memory (src/gateway/device-sessions.ts);
// ended by the sweeper, a revocation or expiry, or a terminate. Every start and end
// is an audit event in the same transaction.

import { and, count, desc, eq, isNull, lt, type SQL, sql } from 'drizzle-orm'
import { type Db, queryRows } from '../db/client'
import { accessTokens, type ProxySessionRow, proxySessions, users } from '../db/schema'
import type { Audit, AuditContext, AuditEvent } from './audit'
import type { Clock } from './clock'

export type EndReason = 'idle' | 'revoked' | 'expired' | 'terminated'

export interface StartInput {
  tokenId: string
  userId: string
  deviceKey: string
  deviceSource: 'header' | 'cookie' | 'address'
  /** For a cookie device: the key its address + browser had, so the session it began before it had the cookie carries on. */
  addressKey: string | null
  ip: string
  userAgent: string | null
  requestId: string
  /** 0: any number of devices. */
  limit: number
  idleSeconds: number
}

export type StartResult =
  | { kind: 'open'; id: string; started: boolean }
  | { kind: 'refused'; retryAfterSeconds: number }
  /** The token row is gone. */
  | { kind: 'gone' }

/** Counters of one session since its last flush, and what it last saw. */
export interface FlushRow {
  id: string
  requests: number
  bytesIn: number
  bytesOut: number
  websocketsOpen: number
  lastIp: string | null
  lastSeen: number
}

export interface SessionFilter {
  id?: string
  active?: boolean
  userId?: string
  tokenId?: string
  limit: number
  offset: number
}

export type SessionListRow = ProxySessionRow & { email: string; username: string }

// Any fixed number, distinct from MIGRATION_LOCK and RECONCILE_LOCK.
export const SESSION_SWEEP_LOCK = 4_242_003
const SWEEP_BATCH = 500

type Ended = Pick<ProxySessionRow, 'id' | 'userId' | 'tokenId' | 'requests' | 'bytesIn' | 'bytesOut'>

export function createSessionService(deps: { db: Db; audit: Audit; clock: Clock }) {
  const { db, audit, clock } = deps

  const endEvent = (s: Ended, reason: EndReason, ctx: AuditContext = { actorType: 'system' }): AuditEvent => ({
    action: 'session.end',
    ...ctx,
    subjectUserId: s.userId,
    resourceType: 'proxy_session',
    resourceId: s.id,
    details: { reason, requests: Number(s.requests), bytes_in: Number(s.bytesIn), bytes_out: Number(s.bytesOut) },
  })

  const recordEnds = async (tx: Db, ended: Ended[], reason: (s: Ended) => EndReason) => {
    for (const s of ended) await audit.record(tx, endEvent(s, reason(s)))
  }

  const inTx = <T>(work: (tx: Db) => Promise<T>): Promise<T> => db.transaction((tx) => work(tx as unknown as Db))

  return {
    /** Finds this device's open session of the token, or starts one if the token has a device to spare. */
    start(input: StartInput): Promise<StartResult> {
      return inTx(async (tx) => {
        const [token] = await tx.select({ id: accessTokens.id }).from(accessTokens).where(eq(accessTokens.id, input.tokenId)).for('update')
        if (!token) return { kind: 'gone' }
        const now = clock.now()
        const idleBefore = new Date(now.getTime() - input.idleSeconds * 1000)
        const idled = await tx
          .update(proxySessions)
          .set({ endedAt: now, endReason: 'idle' })
          .where(and(eq(proxySessions.tokenId, input.tokenId), isNull(proxySessions.endedAt), lt(proxySessions.lastSeenAt, idleBefore)))
          .returning()
        await recordEnds(tx, idled, () => 'idle')
        const open = await tx
          .select({ id: proxySessions.id, deviceKey: proxySessions.deviceKey, deviceSource: proxySessions.deviceSource, lastSeenAt: proxySessions.lastSeenAt })
          .from(proxySessions)
          .where(and(eq(proxySessions.tokenId, input.tokenId), isNull(proxySessions.endedAt)))
        const mine = open.find((s) => s.deviceKey === input.deviceKey)
        if (mine) return { kind: 'open', id: mine.id, started: false }
        // The browser that got our cookie on its first answer: the same device, now told apart by its cookie.
        const before = input.addressKey ? open.find((s) => s.deviceKey === input.addressKey && s.deviceSource === 'address') : undefined
        if (before) {
          await tx.update(proxySessions).set({ deviceKey: input.deviceKey, deviceSource: input.deviceSource }).where(eq(proxySessions.id, before.id))
          return { kind: 'open', id: before.id, started: false }
        }
        if (input.limit > 0 && open.length >= input.limit) {
          // The earliest moment enough of the others would have gone idle to leave a place.
          const seen = open.map((s) => s.lastSeenAt.getTime()).sort((a, b) => a - b)
          const frees = seen[open.length - input.limit]! + input.idleSeconds * 1000
          return { kind: 'refused', retryAfterSeconds: Math.max(1, Math.ceil((frees - now.getTime()) / 1000)) }
        }
        const values = {
          tokenId: input.tokenId,
          userId: input.userId,
          deviceKey: input.deviceKey,
          deviceSource: input.deviceSource,
          firstIp: input.ip || null,
          lastIp: input.ip || null,
          userAgent: input.userAgent?.slice(0, 512) || null,
          startedAt: now,
          lastSeenAt: now,
        }
        // The partial unique index is the last guard against a second open row for this device.
        const [row] = await tx.insert(proxySessions).values(values).onConflictDoNothing().returning({ id: proxySessions.id })
        if (!row) {
          const [existing] = await tx
            .select({ id: proxySessions.id })
            .from(proxySessions)
            .where(and(eq(proxySessions.tokenId, input.tokenId), eq(proxySessions.deviceKey, input.deviceKey), isNull(proxySessions.endedAt)))
          return existing ? { kind: 'open', id: existing.id, started: false } : { kind: 'gone' }
        }
        await audit.record(tx, {
          action: 'session.start',
          actorType: 'user',
          actorId: input.userId,
          subjectUserId: input.userId,
          resourceType: 'proxy_session',
          resourceId: row.id,
          ip: input.ip,
          userAgent: input.userAgent,
          requestId: input.requestId,
          details: { device_source: input.deviceSource },
        })
        return { kind: 'open', id: row.id, started: true }
      })
    },

    /** One UPDATE for the whole batch; returns the ids among them that have ended meanwhile. */
    async flush(rows: FlushRow[]): Promise<string[]> {
      if (rows.length === 0) return []
      const batch = JSON.stringify(
        rows.map((r) => ({
          id: r.id,
          requests: r.requests,
          bytes_in: r.bytesIn,
          bytes_out: r.bytesOut,
          ws: r.websocketsOpen,
          ip: r.lastIp,
          seen: new Date(r.lastSeen).toISOString(),
        })),
      )
      const out = await queryRows<{ id: string; ended: boolean }>(
        db,
        sql`update proxy_sessions as s set
              requests = s.requests + v.requests,
              bytes_in = s.bytes_in + v.bytes_in,
              bytes_out = s.bytes_out + v.bytes_out,
              websockets_open = v.ws,
              last_ip = coalesce(v.ip, s.last_ip),
              last_seen_at = greatest(s.last_seen_at, v.seen)
            from jsonb_to_recordset(${batch}::jsonb) as v(id uuid, requests bigint, bytes_in bigint, bytes_out bigint, ws integer, ip varchar, seen timestamptz)
            where s.id = v.id
            returning s.id, s.ended_at is not null as ended`,
      )
      return out.filter((r) => r.ended).map((r) => r.id)
    },

    /**
     * Ends open sessions with nothing for SESSION_IDLE_SECONDS ('idle'), and those of a token that was revoked
     * or whose owner was deactivated ('revoked') or that expired ('expired'). On PostgreSQL one instance at a
     * time (an advisory lock); null when another instance holds it. Returns the ended rows.
     */
    async sweep(idleSeconds: number, opts: { exclusive: boolean }): Promise<Array<{ id: string; reason: EndReason }> | null> {
      return inTx(async (tx) => {
        if (opts.exclusive) {
          const [lock] = await queryRows<{ got: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${SESSION_SWEEP_LOCK}) as got`)
          if (!lock?.got) return null
        }
        // As text: a raw query's parameters are not mapped by column type, and postgres.js takes no Date there.
        const now = clock.now().toISOString()
        const idleBefore = new Date(clock.now().getTime() - idleSeconds * 1000).toISOString()
        const ended = await queryRows<{
          id: string
          user_id: string
          token_id: string
          requests: string
          bytes_in: string
          bytes_out: string
          end_reason: EndReason
        }>(
          tx,
          sql`with due as (
                select s.id,
                  case when not t.is_active or not u.is_active then 'revoked'
                       when t.expires_at is not null and t.expires_at <= ${now}::timestamptz then 'expired'
                       else 'idle' end as reason
                from proxy_sessions s join access_tokens t on t.id = s.token_id join users u on u.id = t.user_id
                where s.ended_at is null
                  and (s.last_seen_at < ${idleBefore}::timestamptz or not t.is_active or not u.is_active
                       or (t.expires_at is not null and t.expires_at <= ${now}::timestamptz))
                order by s.last_seen_at
                limit ${SWEEP_BATCH}
                for update of s skip locked
              )
              update proxy_sessions s set ended_at = ${now}::timestamptz, end_reason = due.reason
              from due where s.id = due.id
              returning s.id, s.user_id, s.token_id, s.requests, s.bytes_in, s.bytes_out, s.end_reason`,
        )
        for (const r of ended) {
          await audit.record(
            tx,
            endEvent(
              { id: r.id, userId: r.user_id, tokenId: r.token_id, requests: Number(r.requests), bytesIn: Number(r.bytes_in), bytesOut: Number(r.bytes_out) },
              r.end_reason,
            ),
          )
        }
        return ended.map((r) => ({ id: r.id, reason: r.end_reason }))
      })
    },

    /**
     * Ends one open session ('terminated'), by an operator or, with `ownerId`, by its own user only.
     * null: no such session (or not theirs); 'ended': it had ended already.
     */
    terminate(id: string, opts: { ownerId?: string; reason: string | null; ctx: AuditContext }): Promise<ProxySessionRow | 'ended' | null> {
      return inTx(async (tx) => {
        const where = opts.ownerId ? and(eq(proxySessions.id, id), eq(proxySessions.userId, opts.ownerId)) : eq(proxySessions.id, id)
        const [row] = await tx.select().from(proxySessions).where(where).for('update')
        if (!row) return null
        if (row.endedAt) return 'ended'
        const now = clock.now()
        const [done] = await tx.update(proxySessions).set({ endedAt: now, endReason: 'terminated' }).where(eq(proxySessions.id, id)).returning()
        await audit.record(tx, {
          action: 'session.terminate',
          ...opts.ctx,
          subjectUserId: row.userId,
          resourceType: 'proxy_session',
          resourceId: id,
          details: { reason: opts.reason },
        })
        await audit.record(tx, endEvent(done!, 'terminated', opts.ctx))
        return done!
      })
    },

    /** Newest first, with each owner's email and username. */
    async list(filter: SessionFilter): Promise<{ items: SessionListRow[]; total: number }> {
      const conditions: SQL[] = []
      if (filter.id) conditions.push(eq(proxySessions.id, filter.id))
      if (filter.active === true) conditions.push(isNull(proxySessions.endedAt))
      if (filter.active === false) conditions.push(sql`${proxySessions.endedAt} is not null`)
      if (filter.userId) conditions.push(eq(proxySessions.userId, filter.userId))
      if (filter.tokenId) conditions.push(eq(proxySessions.tokenId, filter.tokenId))
      const where = conditions.length ? and(...conditions) : undefined
      const [items, [total]] = await Promise.all([
        db
          .select({ session: proxySessions, email: users.email, username: users.username })
          .from(proxySessions)
          .innerJoin(users, eq(users.id, proxySessions.userId))
          .where(where)
          .orderBy(desc(proxySessions.startedAt), desc(proxySessions.id))
          .limit(filter.limit)
          .offset(filter.offset),
        db.select({ n: count() }).from(proxySessions).where(where),
      ])
      return { items: items.map((r) => ({ ...r.session, email: r.email, username: r.username })), total: Number(total?.n ?? 0) }
    },
  }
}

export type SessionService = ReturnType<typeof createSessionService>
