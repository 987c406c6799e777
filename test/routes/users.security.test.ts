import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { appFixture, signUp } from '../support/harness'

const f = appFixture()

describe('a write that fails in the database', () => {
  it('is a 500 whose log line names the error, its SQLSTATE and the query, never the parameters (the new bcrypt hash) or a message with values', async () => {
    // A check the update can still break after validation: the row is refused by PostgreSQL itself.
    await f.db.db.execute(sql`alter table users add constraint zz_test_no_boom check (full_name is distinct from 'boom-full-name')`)
    try {
      const { jwt } = await signUp(f.t)
      const before = f.t.logs.length
      const res = await f.t.request('/api/v1/users/me', {
        method: 'PATCH',
        bearer: jwt,
        json: { full_name: 'boom-full-name', password: 'the-new-secret-password' },
      })
      expect(res.status).toBe(500)
      expect(await res.json()).toEqual({ detail: 'Internal Server Error', request_id: res.headers.get('x-request-id') })
      const lines = f.t.logs.slice(before)
      const line = lines.find((l) => l.includes('unhandled error'))
      expect(line).toBeDefined()
      const logged = JSON.parse(line!)
      expect(logged.error).toMatchObject({ name: 'DrizzleQueryError', code: '23514', constraint: 'zz_test_no_boom' })
      expect(logged.error.query).toMatch(/^update "users" set/)
      expect(logged.error.query).toContain('$1')
      const all = lines.join('\n')
      expect(all).not.toMatch(/\$2[aby]\$/) // the new password's bcrypt hash, a parameter of the failed update
      expect(all).not.toContain('the-new-secret-password')
      expect(all).not.toContain('boom-full-name') // a parameter too
      expect(all).not.toMatch(/Failed query|params:/)
      expect(Object.keys(logged).sort()).toEqual(['error', 'level', 'method', 'msg', 'path', 'request_id', 'time'])
      expect(logged.request_id).toBe(res.headers.get('x-request-id'))
    } finally {
      await f.db.db.execute(sql`alter table users drop constraint zz_test_no_boom`)
    }
  })
})
