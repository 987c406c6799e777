// The embedded database's data directory: made (initdb, and the migrations when the server opens it)
// by a child process, so none of that stays in the server's memory; opened in process after that.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/client'
import { MIGRATIONS_DIR, openDatabase, openMigratedDatabase, setUpPgliteDir } from '../../src/db/connect-node'

const MB = 1024 * 1024
const root = mkdtempSync(join(tmpdir(), 'zenzefi-connect-node-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const tables = async (d: Database) =>
  (await d.db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`)) as unknown as {
    rows: Array<{ table_name: string }>
  }

describe('a new PGlite data directory', () => {
  it('is made and migrated by a child process: no PGlite instance in this one', async () => {
    const dir = join(root, 'set-up', 'pglite')
    const before = process.memoryUsage().external
    await setUpPgliteDir(dir, MIGRATIONS_DIR)
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true)
    // initdb here would have held two WebAssembly memories of 128 MB at least.
    expect(process.memoryUsage().external - before).toBeLessThan(64 * MB)
    const d = await openDatabase({ databaseUrl: null, dataDir: join(root, 'set-up') })
    try {
      expect((await tables(d)).rows.map((r) => r.table_name)).toContain('users')
    } finally {
      await d.close()
    }
  })

  it('opened for the server is migrated, and opens again as it was left', async () => {
    const dataDir = join(root, 'server')
    const first = await openMigratedDatabase({ databaseUrl: null, dataDir })
    await first.db.execute(sql`insert into users (email, username, hashed_password) values ('a@example.com', 'a', 'x')`)
    await first.close()
    const again = await openMigratedDatabase({ databaseUrl: null, dataDir })
    try {
      const rows = (await again.db.execute(sql`select email from users`)) as unknown as { rows: Array<{ email: string }> }
      expect(rows.rows).toEqual([{ email: 'a@example.com' }])
    } finally {
      await again.close()
    }
  })

  it('opened without migrating is an empty database, as before', async () => {
    const d = await openDatabase({ databaseUrl: null, dataDir: join(root, 'plain') })
    try {
      expect((await tables(d)).rows).toEqual([])
    } finally {
      await d.close()
    }
  })

  it("says why when it can't be made", async () => {
    const file = join(root, 'not-a-dir')
    writeFileSync(file, 'x')
    await expect(setUpPgliteDir(join(file, 'pglite'), null)).rejects.toThrow(/could not create the PGlite data directory/)
  })
})
