import { is, sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { getTableConfig, isPgEnum, PgTable } from 'drizzle-orm/pg-core'
import type { TokenCache } from '../cache/interface'
import type { Database, Db } from '../db/client'
import { MIGRATION_LOCK, MIGRATIONS_DIR } from '../db/connect-node'
import * as schema from '../db/schema'
import { describeMigrations, MIGRATIONS_SCHEMA, MIGRATIONS_TABLE, migrationState, queryRows, relationExists } from './database-state'
import { reach } from './invalidation'
import type { Output } from './io'

/** Every table and enum src/db/schema.ts defines — what the migrations create — as quoted SQL names. */
function schemaObjects(): { tables: string[]; enums: string[] } {
  const q = (schemaName: string | undefined, name: string) => `"${schemaName ?? 'public'}"."${name.replaceAll('"', '""')}"`
  const values = Object.values(schema) as unknown[]
  return {
    tables: values
      .filter((v): v is PgTable => is(v, PgTable))
      .map((t) => getTableConfig(t))
      .map((c) => q(c.schema, c.name)),
    enums: values.filter(isPgEnum).map((e) => q(e.schema, e.enumName)),
  }
}

/**
 * The functions the migrations create (the ledger's triggers run them). Dropping a table
 * takes its triggers along but leaves the functions, so they are dropped by name too: a
 * replay then defines each afresh, even one whose signature a later migration changed.
 */
function migrationFunctions(): string[] {
  const names = new Set<string>()
  for (const m of readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR })) {
    for (const statement of m.sql) {
      for (const match of statement.matchAll(/create\s+(?:or\s+replace\s+)?function\s+(?:"?public"?\.)?"?([a-z_][a-z0-9_]*)"?\s*\(/gi)) {
        names.add(match[1]!.toLowerCase())
      }
    }
  }
  return [...names]
}

/** Each overload of those functions present in public, as `name(argument types)`. */
async function presentFunctions(tx: Db, names: string[]): Promise<string[]> {
  if (names.length === 0) return []
  const rows = await queryRows<{ signature: string }>(
    tx,
    sql`select p.oid::regprocedure::text as signature from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.proname in ${names} order by 1`,
  )
  return rows.map((r) => r.signature)
}

/**
 * Replays drizzle/ from scratch inside the caller's transaction, keeping the same
 * bookkeeping drizzle's migrator keeps (drizzle.__drizzle_migrations: hash,
 * created_at = the journal's folderMillis), so a later `migrate` or server start
 * sees everything applied. drizzle's own migrator can't run inside a transaction
 * it didn't open.
 */
async function replayMigrations(tx: Db): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR })
  const table = sql`${sql.identifier(MIGRATIONS_SCHEMA)}.${sql.identifier(MIGRATIONS_TABLE)}`
  await tx.execute(sql`create schema if not exists ${sql.identifier(MIGRATIONS_SCHEMA)}`)
  await tx.execute(sql`create table if not exists ${table} (id serial primary key, hash text not null, created_at bigint)`)
  for (const m of migrations) {
    for (const statement of m.sql) await tx.execute(sql.raw(statement))
    await tx.execute(sql`insert into ${table} ("hash", "created_at") values (${m.hash}, ${m.folderMillis})`)
  }
  return migrations.length
}

/**
 * `reset-db`: drops the app's tables (with their triggers), enums, the migrations'
 * functions and drizzle's bookkeeping schema, then migrates from scratch — all in one
 * transaction (PostgreSQL and PGlite both have transactional DDL), so a failure leaves
 * the database as it was. On
 * PostgreSQL it holds the migration lock so no starting server migrates meanwhile.
 * Access tokens that existed are invalidated in the cache afterwards.
 */
export async function resetDb(
  deps: { database: Database; cache: TokenCache },
  io: Output,
): Promise<{ dropped: string[]; functions: string[]; migrations: number }> {
  const { db, kind } = deps.database
  const { tables, enums } = schemaObjects()
  const { hashes, dropped, functions, migrations } = await db.transaction(async (tx) => {
    if (kind === 'postgres') await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`)
    const hashes = (await relationExists(tx, 'public.access_tokens'))
      ? (await queryRows<{ token_hash: string }>(tx, sql`select token_hash from access_tokens`)).map((r) => r.token_hash)
      : []
    const dropped: string[] = []
    for (const name of tables) {
      if (await relationExists(tx, name)) dropped.push(name)
      await tx.execute(sql.raw(`drop table if exists ${name} cascade`))
    }
    for (const name of enums) await tx.execute(sql.raw(`drop type if exists ${name} cascade`))
    // Not cascade: a function still used by something outside the app's tables stops the reset instead.
    const functions = await presentFunctions(tx, migrationFunctions())
    for (const signature of functions) await tx.execute(sql.raw(`drop function ${signature}`))
    await tx.execute(sql`drop schema if exists ${sql.identifier(MIGRATIONS_SCHEMA)} cascade`)
    return { hashes, dropped, functions, migrations: await replayMigrations(tx) }
  })
  await deps.cache.invalidate(hashes)
  io.out(`dropped ${dropped.length > 0 ? dropped.join(', ') : 'no tables (none existed)'}`)
  io.out(`dropped ${functions.length > 0 ? `functions ${functions.join(', ')}` : 'no functions (none existed)'} and schema "${MIGRATIONS_SCHEMA}"`)
  io.out(`migrations: replayed ${migrations}; now ${describeMigrations(await migrationState(db))}; the database is empty`)
  if (hashes.length > 0) io.out(`${hashes.length} access token(s) invalidated, refused ${reach(deps.cache.kind)}`)
  return { dropped, functions, migrations }
}
