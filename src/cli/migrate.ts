import type { Database } from '../db/client'
import { migrateDatabase } from '../db/connect-node'
import { describeMigrations, type MigrationState, migrationState } from './database-state'
import type { Output } from './io'

/**
 * `migrate`: the migrations the server applies at startup, under the same lock.
 * Running it again applies nothing.
 */
export async function migrate(
  deps: { database: Database; databaseUrl: string | null },
  io: Output,
): Promise<{ before: MigrationState; after: MigrationState; applied: number }> {
  const before = await migrationState(deps.database.db)
  await migrateDatabase(deps.database, deps.databaseUrl)
  const after = await migrationState(deps.database.db)
  const applied = after.applied - before.applied
  io.out(applied > 0 ? `migrations: applied ${applied}; now ${describeMigrations(after)}` : `migrations: nothing to apply; ${describeMigrations(after)}`)
  return { before, after, applied }
}
