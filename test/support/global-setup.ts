import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { migrateDatabase, openDatabase } from '../../src/db/connect-node'
import { services } from './services'

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string | null
  }
}

/**
 * Without DATABASE_URL every test file gets its own embedded PGlite. Booting
 * and migrating one takes ~2.5 s, loading a dumped one ~0.5 s, so it's done once here.
 */
export default async function setup(project: TestProject) {
  const s = services()
  console.log(
    `\n[zenzefi tests] database: ${s.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; ` +
      `cache: ${s.redisUrl ? 'Redis (REDIS_URL)' : 'in-process'}; ` +
      `own redis-server for failure tests: ${s.redisServerBinary ?? 'not installed'}`,
  )
  if (!s.redisUrl) console.log('[zenzefi tests] skipped: suites that need a shared Redis (multi-instance revocation) — set REDIS_URL to run them')
  if (!s.redisServerBinary) console.log('[zenzefi tests] skipped: suites that start and kill their own redis-server')
  if (s.databaseUrl) {
    project.provide('pgliteTemplate', null)
    return
  }
  const database = await openDatabase({ databaseUrl: null, dataDir: 'memory://' })
  await migrateDatabase(database, null)
  const client = (database.db as unknown as { $client: { dumpDataDir(c: 'none'): Promise<Blob> } }).$client
  const file = join(tmpdir(), `zenzefi-pglite-template-${process.pid}.tar`)
  await writeFile(file, Buffer.from(await (await client.dumpDataDir('none')).arrayBuffer()))
  await database.close()
  project.provide('pgliteTemplate', file)
}
