import { sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { accessTokens, users } from '../db/schema'
import { describeMigrations, driverMessage, type MigrationState, migrationState, relationExists } from './database-state'
import { CliError, type Output } from './io'

export interface DbReport {
  kind: Database['kind']
  migrations: MigrationState
  /** null when the table doesn't exist (not migrated). */
  users: number | null
  accessTokens: number | null
}

/** `check-db`: is the database reachable, how far is it migrated, how many rows does it hold. Changes nothing. */
export async function checkDb(deps: { database: Database; description: string }, io: Output): Promise<DbReport> {
  const { db, kind } = deps.database
  try {
    await db.execute(sql`select 1`)
  } catch (err) {
    throw new CliError(`database unreachable: ${deps.description}: ${driverMessage(err)}`)
  }
  io.out(`database: ${deps.description}, reachable`)
  const migrations = await migrationState(db)
  io.out(`migrations: ${describeMigrations(migrations)}`)
  const count = async (name: string, table: typeof users | typeof accessTokens) =>
    (await relationExists(db, `public.${name}`)) ? await db.$count(table) : null
  const report: DbReport = { kind, migrations, users: await count('users', users), accessTokens: await count('access_tokens', accessTokens) }
  io.out(`users: ${report.users ?? 'table missing'}`)
  io.out(`access_tokens: ${report.accessTokens ?? 'table missing'}`)
  return report
}
