// The audit log: one event per thing that happened, written inside the transaction of the
// change (a failed change leaves no event; a failed write undoes the change), and chained so
// that an edited or deleted row shows: each row's HMAC covers the previous row's HMAC and its
// own fields, under a key derived from SECRET_KEY. Appending locks the chain's head row, so
// audited transactions append one at a time (only that last step is serialised).

import { asc, eq, gt, lt } from 'drizzle-orm'
import type { Db } from '../db/client'
import { type AuditEventRow, auditChainHead, auditEvents } from '../db/schema'
import type { Logger } from '../logger'

export type AuditOutcome = 'success' | 'failure' | 'denied'
export type ActorType = 'user' | 'admin' | 'system' | 'cli' | 'anonymous'
type Detail = string | number | boolean | null

/** Each action and the detail keys it may carry: anything else is a bug, refused before it is written. */
export const AUDIT_ACTIONS = {
  'auth.login': ['reason'],
  'auth.register': [],
  'account.logout': ['everywhere'],
  'token.launch': [],
  'user.update': ['fields', 'is_active', 'is_superuser'],
  'token.purchase': ['duration_hours', 'cost_znc', 'idempotency_key'],
  'token.activate': ['duration_hours'],
  'token.revoke': ['refund_znc', 'by', 'reason'],
  'token.grant': ['duration_hours', 'reason'],
  'payment.create': ['amount_znc', 'amount_rub', 'provider'],
  'payment.credit': ['amount_znc', 'provider'],
  'payment.review': ['reason'],
  'balance.adjust': ['amount_znc', 'reason', 'balance_after'],
  'lock.create': ['target_type', 'message', 'expires_at'],
  'lock.lift': ['target_type'],
  'session.start': ['device_source'],
  'session.end': ['reason', 'requests', 'bytes_in', 'bytes_out'],
  'session.terminate': ['reason'],
  'cli.command': ['command'],
  'audit.prune': ['deleted', 'before'],
} as const satisfies Record<string, readonly string[]>

export type AuditAction = keyof typeof AUDIT_ACTIONS

export interface AuditEvent {
  action: AuditAction
  outcome?: AuditOutcome
  actorType: ActorType
  actorId?: string | null
  subjectUserId?: string | null
  resourceType?: string | null
  resourceId?: string | null
  ip?: string | null
  userAgent?: string | null
  requestId?: string | null
  details?: Record<string, Detail>
}

/** Who did it and from where: what a route knows about its request. */
export interface AuditContext {
  actorType: ActorType
  actorId?: string | null
  ip?: string | null
  userAgent?: string | null
  requestId?: string | null
}

// Values that look like a secret never enter the log: an access token, a JWT, a bcrypt hash.
const SECRET_LIKE = [/^[A-Za-z0-9_-]{64}$/, /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/, /^\$2[aby]\$\d\d\$/]

export class AuditDetailError extends Error {}

function checkedDetails(action: AuditAction, details: Record<string, Detail> = {}): string {
  const allowed: readonly string[] = AUDIT_ACTIONS[action]
  for (const [key, value] of Object.entries(details)) {
    if (!allowed.includes(key)) throw new AuditDetailError(`audit detail "${key}" is not one ${action} carries`)
    if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) throw new AuditDetailError(`audit detail "${key}" must be a plain value`)
    if (typeof value === 'string' && (value.length > 500 || SECRET_LIKE.some((re) => re.test(value)))) {
      throw new AuditDetailError(`audit detail "${key}" is too long or looks like a secret`)
    }
  }
  // Keys in a fixed order: the HMAC covers these exact bytes.
  return JSON.stringify(Object.fromEntries(Object.entries(details).sort(([a], [b]) => (a < b ? -1 : 1))))
}

type Chained = Pick<
  AuditEventRow,
  'occurredAt' | 'action' | 'outcome' | 'actorType' | 'actorId' | 'subjectUserId' | 'resourceType' | 'resourceId' | 'ip' | 'userAgent' | 'requestId' | 'details'
>

/** The bytes a row's HMAC covers, in a fixed order. */
const chainText = (prevHmac: string, r: Chained) =>
  JSON.stringify([
    prevHmac,
    r.occurredAt.toISOString(),
    r.action,
    r.outcome,
    r.actorType,
    r.actorId,
    r.subjectUserId,
    r.resourceType,
    r.resourceId,
    r.ip,
    r.userAgent,
    r.requestId,
    r.details,
  ])

export interface AuditProblem {
  id: number | null
  problem: string
}

export function createAudit(deps: { secretKey: string; log: Logger; now: () => Date }) {
  const enc = new TextEncoder()
  // Derived on first use and kept as a value, never as a promise shared between requests (Workers).
  let key: CryptoKey | null = null
  const keyOf = async () => {
    if (key) return key
    const ikm = await crypto.subtle.importKey('raw', enc.encode(deps.secretKey), 'HKDF', false, ['deriveKey'])
    key = await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('zenzefi-audit'), info: enc.encode('audit chain v1') },
      ikm,
      { name: 'HMAC', hash: 'SHA-256', length: 256 },
      false,
      ['sign'],
    )
    return key
  }
  const hmacHex = async (text: string) =>
    [...new Uint8Array(await crypto.subtle.sign('HMAC', await keyOf(), enc.encode(text)))].map((b) => b.toString(16).padStart(2, '0')).join('')

  return {
    /** Appends one event inside the caller's transaction; the event also goes to the log stream. */
    async record(tx: Db, event: AuditEvent): Promise<void> {
      const row: Chained = {
        occurredAt: deps.now(),
        action: event.action,
        outcome: event.outcome ?? 'success',
        actorType: event.actorType,
        actorId: event.actorId ?? null,
        subjectUserId: event.subjectUserId ?? null,
        resourceType: event.resourceType ?? null,
        resourceId: event.resourceId ?? null,
        ip: event.ip || null,
        userAgent: event.userAgent?.slice(0, 512) || null,
        requestId: event.requestId ?? null,
        details: checkedDetails(event.action, event.details),
      }
      const [head] = await tx.select().from(auditChainHead).where(eq(auditChainHead.id, 1)).for('update')
      const hmac = await hmacHex(chainText(head!.lastHmac, row))
      const [written] = await tx
        .insert(auditEvents)
        .values({ ...row, prevHmac: head!.lastHmac, hmac })
        .returning({ id: auditEvents.id })
      await tx.update(auditChainHead).set({ lastId: written!.id, lastHmac: hmac }).where(eq(auditChainHead.id, 1))
      deps.log.info('audit', {
        audit_id: written!.id,
        action: row.action,
        outcome: row.outcome,
        actor_type: row.actorType,
        actor_id: row.actorId,
        subject_user_id: row.subjectUserId,
        resource_type: row.resourceType,
        resource_id: row.resourceId,
        client_ip: row.ip,
        request_id: row.requestId,
        details: row.details,
      })
    },

    /**
     * Walks the chain from the anchor to the head: an edited row fails its HMAC, a deleted one
     * breaks the link of the row after it (or the head, for the last).
     */
    async verify(db: Db, opts: { batch?: number } = {}): Promise<{ checked: number; problems: AuditProblem[] }> {
      const [head] = await db.select().from(auditChainHead).where(eq(auditChainHead.id, 1))
      if (!head) return { checked: 0, problems: [{ id: null, problem: 'the chain head row is missing' }] }
      const problems: AuditProblem[] = []
      let prev = head.anchorHmac
      let lastId = 0
      let checked = 0
      for (;;) {
        const rows = await db
          .select()
          .from(auditEvents)
          .where(gt(auditEvents.id, lastId))
          .orderBy(asc(auditEvents.id))
          .limit(opts.batch ?? 1000)
        if (rows.length === 0) break
        for (const r of rows) {
          if (r.prevHmac !== prev) problems.push({ id: r.id, problem: 'does not follow the event before it: an event was deleted before this one' })
          if ((await hmacHex(chainText(r.prevHmac, r))) !== r.hmac) problems.push({ id: r.id, problem: 'its contents were changed after it was written' })
          prev = r.hmac
          lastId = r.id
          checked++
        }
      }
      if (head.lastHmac !== prev || (head.lastId ?? 0) !== lastId) {
        problems.push({
          id: head.lastId,
          problem: `the chain ends at event ${lastId || 'none'}, but its head names ${head.lastId ?? 'none'}: events at the end were deleted`,
        })
      }
      return { checked, problems }
    },

    /** Deletes events older than the retention, moving the anchor to the last one deleted. */
    async prune(db: Db, days: number, ctx: AuditContext = { actorType: 'system' }): Promise<number> {
      if (days <= 0) return 0
      const before = new Date(deps.now().getTime() - days * 86_400_000)
      return db.transaction(async (tx) => {
        const t = tx as unknown as Db
        const [head] = await t.select().from(auditChainHead).where(eq(auditChainHead.id, 1)).for('update')
        const old = await t
          .select({ id: auditEvents.id, hmac: auditEvents.hmac })
          .from(auditEvents)
          .where(lt(auditEvents.occurredAt, before))
          .orderBy(asc(auditEvents.id))
        if (old.length === 0 || !head) return 0
        // Only a prefix of the chain may go: the anchor must be the HMAC the first kept event follows.
        const last = old[old.length - 1]!
        await t.delete(auditEvents).where(lt(auditEvents.id, last.id + 1))
        await t.update(auditChainHead).set({ anchorHmac: last.hmac }).where(eq(auditChainHead.id, 1))
        await this.record(t, { action: 'audit.prune', ...ctx, details: { deleted: old.length, before: before.toISOString() } })
        return old.length
      })
    },
  }
}

export type Audit = ReturnType<typeof createAudit>
