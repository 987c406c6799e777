// Reading the audit log: one page for the admin list, or every matching event in
// batches by id for an export (the API's stream and the CLI's audit-export), so an
// export of any size holds one batch in memory at a time.

import { and, asc, count, desc, eq, gt, gte, lt, or, type SQL } from 'drizzle-orm'
import type { Db } from '../db/client'
import { type AuditEventRow, auditEvents } from '../db/schema'

export interface AuditFilters {
  /** The user acted or was acted upon. */
  userId?: string
  action?: string
  /** Inclusive. */
  since?: Date
  /** Exclusive. */
  until?: Date
  /** success, failure or denied. */
  outcome?: string
}

/** One event as the API and the exports show it (details as an object, never the chain's HMACs). */
export interface AuditItem {
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

export const AUDIT_COLUMNS = [
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
] as const satisfies readonly (keyof AuditItem)[]

/** The batch an export reads at a time. */
export const EXPORT_BATCH = 1000

const whereOf = (f: AuditFilters): SQL | undefined =>
  and(
    f.userId ? or(eq(auditEvents.subjectUserId, f.userId), eq(auditEvents.actorId, f.userId)) : undefined,
    f.action ? eq(auditEvents.action, f.action) : undefined,
    f.since ? gte(auditEvents.occurredAt, f.since) : undefined,
    f.until ? lt(auditEvents.occurredAt, f.until) : undefined,
    f.outcome ? eq(auditEvents.outcome, f.outcome) : undefined,
  )

function parsedDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

export function auditItem(r: AuditEventRow): AuditItem {
  return {
    id: r.id,
    occurred_at: r.occurredAt.toISOString(),
    action: r.action,
    outcome: r.outcome,
    actor_type: r.actorType,
    actor_id: r.actorId,
    subject_user_id: r.subjectUserId,
    resource_type: r.resourceType,
    resource_id: r.resourceId,
    ip: r.ip,
    user_agent: r.userAgent,
    request_id: r.requestId,
    details: parsedDetails(r.details),
  }
}

/** One page, newest first. */
export async function listAudit(db: Db, f: AuditFilters, page: { limit: number; offset: number }): Promise<{ items: AuditItem[]; total: number }> {
  const where = whereOf(f)
  const [rows, [total]] = await Promise.all([
    db.select().from(auditEvents).where(where).orderBy(desc(auditEvents.id)).limit(page.limit).offset(page.offset),
    db.select({ n: count() }).from(auditEvents).where(where),
  ])
  return { items: rows.map(auditItem), total: Number(total?.n ?? 0) }
}

/** Every matching event, oldest first (the chain's order), one keyset-paged batch at a time. */
export async function* auditBatches(db: Db, f: AuditFilters, batch = EXPORT_BATCH): AsyncGenerator<AuditItem[]> {
  const where = whereOf(f)
  let after = 0
  for (;;) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(where, gt(auditEvents.id, after)))
      .orderBy(asc(auditEvents.id))
      .limit(batch)
    if (rows.length === 0) return
    after = rows[rows.length - 1]!.id
    yield rows.map(auditItem)
    if (rows.length < batch) return
  }
}

export type ExportFormat = 'ndjson' | 'csv'

// A spreadsheet runs a cell that starts with one of these as a formula; the user agent is the client's own text.
const FORMULA_START = /^[=+\-@\t\r]/

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value)
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export const csvHeader = () => AUDIT_COLUMNS.join(',')
export const csvLine = (item: AuditItem) => AUDIT_COLUMNS.map((k) => csvCell(item[k])).join(',')
export const ndjsonLine = (item: AuditItem) => JSON.stringify(item)

/** The lines of an export, without line ends; read lazily, one batch ahead of the consumer at most. */
export async function* exportLines(db: Db, f: AuditFilters, format: ExportFormat, batch = EXPORT_BATCH): AsyncGenerator<string> {
  if (format === 'csv') yield csvHeader()
  const line = format === 'csv' ? csvLine : ndjsonLine
  for await (const items of auditBatches(db, f, batch)) {
    // One string per batch: a thousand small chunks would cost more than the bytes.
    yield items.map(line).join('\n')
  }
}

/** The export as a byte stream that reads the next batch only when the consumer asks for more. */
export function exportStream(db: Db, f: AuditFilters, format: ExportFormat, batch = EXPORT_BATCH): ReadableStream<Uint8Array> {
  const lines = exportLines(db, f, format, batch)
  const enc = new TextEncoder()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await lines.next()
        if (next.done) controller.close()
        else controller.enqueue(enc.encode(`${next.value}\n`))
      },
      async cancel() {
        await lines.return(undefined)
      },
    },
    { highWaterMark: 0 },
  )
}
