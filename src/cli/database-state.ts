import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import type { Config } from '../config'
import { type Db, queryRows } from '../db/client'
import { MIGRATIONS_DIR } from '../db/connect-node'
import { LEDGER_ACCOUNT_KINDS } from '../db/schema'
import { publicUrl } from '../services/health'

export { queryRows }

// Read-only questions about a database, answered the same way on PostgreSQL and PGlite.

/** Where drizzle's migrator keeps its bookkeeping (its defaults; connect-node.ts doesn't override them). */
export const MIGRATIONS_SCHEMA = 'drizzle'
export const MIGRATIONS_TABLE = '__drizzle_migrations'

/** The ledger accounts every purchase, top-up, adjustment and import posts against: one of each, owned by no user. */
export const SYSTEM_ACCOUNT_KINDS = LEDGER_ACCOUNT_KINDS.filter((k) => k !== 'wallet')

/** `schema.table` exists (no error if the schema itself is missing). */
export async function relationExists(db: Db, qualifiedName: string): Promise<boolean> {
  const [row] = await queryRows<{ oid: string | null }>(db, sql`select to_regclass(${qualifiedName}::text)::text as oid`)
  return row?.oid != null
}

export interface MigrationState {
  /** Migrations listed in drizzle/ (its journal). */
  files: number
  /** Rows in drizzle.__drizzle_migrations. */
  applied: number
  /** Files the migrator would still apply: newer than the last applied one, as drizzle decides. */
  pending: number
}

export async function migrationState(db: Db): Promise<MigrationState> {
  const files = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR })
  if (!(await relationExists(db, `${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`))) {
    return { files: files.length, applied: 0, pending: files.length }
  }
  const [row] = await queryRows<{ applied: number | string; last: string | null }>(
    db,
    sql`select count(*)::int as applied, max(created_at)::text as last from ${sql.identifier(MIGRATIONS_SCHEMA)}.${sql.identifier(MIGRATIONS_TABLE)}`,
  )
  const last = row?.last == null ? null : Number(row.last)
  return {
    files: files.length,
    applied: Number(row?.applied ?? 0),
    pending: files.filter((f) => last === null || f.folderMillis > last).length,
  }
}

export const describeMigrations = (s: MigrationState): string =>
  `${s.applied} applied, ${s.files} in drizzle/${s.pending === 0 ? ' (up to date)' : ` (${s.pending} pending: run \`npm run cli -- migrate\`)`}`

/** "postgres (postgres://host:5432/db)" or "pglite (./data/pglite)" — never a password. */
export function describeDatabase(kind: 'postgres' | 'pglite', config: Pick<Config, 'databaseUrl' | 'dataDir'>): string {
  if (kind === 'postgres') return `postgres (${config.databaseUrl ? publicUrl(config.databaseUrl) : 'unknown url'})`
  return `pglite (${config.dataDir === 'memory://' ? 'in memory' : join(config.dataDir, 'pglite')})`
}

/** The driver's own reason for a failed query (drizzle wraps it as `cause`). */
export function driverMessage(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string; errors?: { message?: string }[] } }
  const cause = e?.cause
  // An AggregateError (IPv4 and IPv6 both refused) has an empty message; its parts don't.
  const parts = cause?.errors?.map((x) => x.message).filter(Boolean)
  return cause?.message || parts?.join('; ') || cause?.code || e?.message || String(err)
}
