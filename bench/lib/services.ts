// The real services a bench run uses: PostgreSQL (a throwaway database) or PGlite, and Redis if reachable.
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { createClient } from 'redis'
import type { Database } from '../../src/db/client'
import { migrateDatabase, openDatabase } from '../../src/db/connect-node'

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0'
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

const redact = (url: string) => {
  const u = new URL(url)
  if (u.password) u.password = '***'
  return u.toString()
}

/** One PING within a second, no reconnect attempts. */
export async function redisReachable(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return true
  } catch {
    return false
  } finally {
    if (client.isOpen) await client.close().catch(() => client.destroy())
  }
}

async function postgresReachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
  try {
    await sql`select 1`
    return true
  } catch {
    return false
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

export interface BenchDatabase extends Database {
  /** URL for config.databaseUrl (null for PGlite) */
  url: string | null
  label: string
  /** `select 1` straight through the driver, no drizzle in between */
  selectOne(): Promise<unknown>
  drop(): Promise<void>
}

/**
 * DATABASE_URL (or the local default server when it answers) gets a fresh, migrated
 * database that is dropped afterwards; with no server, PGlite in memory.
 */
export async function openBenchDatabase(): Promise<BenchDatabase> {
  const serverUrl = process.env.DATABASE_URL || DEFAULT_POSTGRES_URL
  if (!(await postgresReachable(serverUrl))) {
    if (process.env.DATABASE_URL) throw new Error(`DATABASE_URL ${redact(serverUrl)} is not reachable`)
    const database = await openDatabase({ databaseUrl: null, dataDir: 'memory://' })
    await migrateDatabase(database, null)
    const client = (database.db as unknown as { $client: { query(q: string): Promise<unknown> } }).$client
    return {
      ...database,
      url: null,
      label: `PGlite in memory (no PostgreSQL at ${redact(serverUrl)})`,
      selectOne: () => client.query('select 1'),
      drop: () => database.close(),
    }
  }
  const name = `zenzefi_bench_${randomBytes(6).toString('hex')}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://' })
  const dropDb = async () => {
    const admin2 = postgres(serverUrl, { max: 1, onnotice: () => {} })
    await admin2.unsafe(`drop database if exists ${name} with (force)`)
    await admin2.end()
  }
  try {
    await migrateDatabase(database, url.toString())
  } catch (err) {
    await database.close()
    await dropDb()
    throw err
  }
  const client = (database.db as unknown as { $client: postgres.Sql }).$client
  return {
    ...database,
    url: url.toString(),
    label: `PostgreSQL, temporary database ${name} on ${redact(serverUrl)} (postgres.js, pool 10)`,
    selectOne: () => client`select 1`,
    async drop() {
      await database.close()
      await dropDb()
    },
  }
}
