import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { fromRoot } from '../runtime/node/project-root'
import type { Database, Db } from './client'
import * as schema from './schema'

export const MIGRATIONS_DIR = fromRoot('drizzle')

// Any fixed number: every instance takes the same lock so two starts never migrate at once.
export const MIGRATION_LOCK = 4_242_001

/**
 * The embedded database serves one process with a small data set: PostgreSQL's default
 * 128 MB of shared buffers (inside PGlite's WebAssembly memory, zeroed, so resident from the
 * start) only costs resident memory here. 16 MB measured ~130 MB less idle RSS (455 → ~320 MB)
 * with no change in the suite's timings; 8 MB another ~7 MB (2026-12-03), with the same query
 * times (a token lookup, an insert). PGlite's other knobs: `initialMemory` cannot go below the
 * 128 MB its module declares (untouched pages of it are not resident anyway), `relaxedDurability`
 * changes when files are flushed, not memory, and no extension is loaded.
 */
const PGLITE_CONF = ['shared_buffers=8MB', 'wal_buffers=512kB']

const require = createRequire(import.meta.url)
const execFileAsync = promisify(execFile)

/**
 * `node -e` in a child process: makes a new PGlite data directory (initdb, which PGlite runs in a
 * second instance with initdb.wasm) and, given a migrations folder, applies the migrations.
 */
const SET_UP_DATA_DIR = `
const w = JSON.parse(process.argv[1])
const { PGlite } = require(w.pglite)
;(async () => {
  const client = new PGlite({ dataDir: w.dir, postgresqlconf: w.conf })
  await client.waitReady
  if (w.migrations) await require(w.migrator).migrate(require(w.drizzle).drizzle(client), { migrationsFolder: w.migrations })
  await client.close()
})().catch((err) => {
  console.error(String((err && err.stack) || err))
  process.exitCode = 1
})
`

/**
 * Makes a new PGlite data directory in a short-lived child process. PGlite's initdb runs a second
 * WebAssembly instance beside the first, WebAssembly memory never shrinks, and what the allocator
 * took while initdb and the migrations ran stays with the process: done in the server's own process,
 * the first start kept 350–740 MB resident against ~230 MB for every later start (in a worker thread
 * ~380 MB: the thread's isolate goes, the allocator's arenas stay). In a child it all goes at exit.
 */
export async function setUpPgliteDir(dir: string, migrationsFolder: string | null): Promise<void> {
  const args = {
    pglite: require.resolve('@electric-sql/pglite'),
    drizzle: require.resolve('drizzle-orm/pglite'),
    migrator: require.resolve('drizzle-orm/pglite/migrator'),
    dir,
    conf: PGLITE_CONF,
    migrations: migrationsFolder,
  }
  try {
    await mkdir(dir, { recursive: true })
    await execFileAsync(process.execPath, ['-e', SET_UP_DATA_DIR, JSON.stringify(args)], { maxBuffer: 1 << 20 })
  } catch (err) {
    // The child prints its error's stack: the first line says what went wrong.
    const said = String((err as { stderr?: unknown }).stderr ?? '')
      .trim()
      .split('\n')[0]
    throw new Error(`could not create the PGlite data directory ${dir}: ${said || (err as Error).message}`, { cause: err })
  }
}

export interface OpenOptions {
  databaseUrl: string | null
  dataDir: string
  pool?: number
  /** A dumped PGlite data dir to start from (tests start from one already migrated). */
  pgliteTemplate?: Blob
}

/** PostgreSQL when a URL is given, otherwise embedded PGlite in DATA_DIR (or in memory for `memory://`). */
export function openDatabase(opts: OpenOptions): Promise<Database> {
  return open(opts, false)
}

/** openDatabase, then migrateDatabase: the database as the server runs on it. A new PGlite data directory is migrated by the child that makes it. */
export async function openMigratedDatabase(opts: OpenOptions): Promise<Database> {
  const database = await open(opts, true)
  await migrateDatabase(database, opts.databaseUrl)
  return database
}

async function open(opts: OpenOptions, migrateNew: boolean): Promise<Database> {
  if (opts.databaseUrl) {
    const sql = postgres(opts.databaseUrl, { max: opts.pool ?? 10, onnotice: () => {}, connect_timeout: 10 })
    return { db: drizzlePostgres(sql, { schema }) as unknown as Db, kind: 'postgres', close: () => sql.end({ timeout: 5 }) }
  }
  let dir: string | undefined
  if (opts.dataDir !== 'memory://') {
    dir = join(opts.dataDir, 'pglite')
    await mkdir(dir, { recursive: true })
    if (!opts.pgliteTemplate && !existsSync(join(dir, 'PG_VERSION'))) await setUpPgliteDir(dir, migrateNew ? MIGRATIONS_DIR : null)
  }
  // Loaded only for the embedded database: a server on PostgreSQL never loads PGlite's code.
  const [{ PGlite }, { drizzle: drizzlePglite }] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite')])
  const client = new PGlite({ dataDir: dir, postgresqlconf: PGLITE_CONF, ...(opts.pgliteTemplate ? { loadDataDir: opts.pgliteTemplate } : {}) })
  await client.waitReady
  return { db: drizzlePglite(client, { schema }) as unknown as Db, kind: 'pglite', close: () => client.close() }
}

export async function migrateDatabase(database: Database, databaseUrl: string | null): Promise<void> {
  if (database.kind === 'pglite') {
    const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator')
    await migratePglite(database.db as never, { migrationsFolder: MIGRATIONS_DIR })
    return
  }
  // A dedicated one-connection client so the advisory lock and the migration share a session.
  const sql = postgres(databaseUrl!, { max: 1, onnotice: () => {} })
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`
    await migratePostgres(drizzlePostgres(sql), { migrationsFolder: MIGRATIONS_DIR })
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`
  } finally {
    await sql.end({ timeout: 5 })
  }
}
