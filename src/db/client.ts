import type { SQL } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type * as schema from './schema'

/** Drizzle over either driver (postgres.js or PGlite); services only see this. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** The client behind `db` is made for each request (Workers): nothing may be prepared ahead. */
  perRequest?: boolean
  close(): Promise<void>
}

/** drizzle wraps driver errors; the SQLSTATE sits on the cause. */
export function pgErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } }
  const code = e?.cause?.code ?? e?.code
  return typeof code === 'string' ? code : undefined
}

export function pgConstraint(err: unknown): string | undefined {
  const e = err as { constraint_name?: unknown; constraint?: unknown; cause?: { constraint_name?: unknown; constraint?: unknown } }
  const name = e?.cause?.constraint_name ?? e?.cause?.constraint ?? e?.constraint_name ?? e?.constraint
  return typeof name === 'string' ? name : undefined
}

/** Rows of a raw query on either driver (postgres.js gives an array, PGlite `{rows}`). */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}
