import { and, eq, inArray, not } from 'drizzle-orm'
import { beforeEach, describe, expect, it } from 'vitest'
import { users } from '../../../src/db/schema'
import type { AuditContext } from '../../../src/services/audit'
import { appFixture, signUp } from '../../support/harness'

// Each test decides who the active superusers are: everyone else is demoted first.
const f = appFixture()

async function onlySuperusers(n: number) {
  const made = await Promise.all(Array.from({ length: n }, () => signUp(f.t)))
  const ids = made.map((m) => m.user.id)
  await f.db.db
    .update(users)
    .set({ isSuperuser: false })
    .where(not(inArray(users.id, ids)))
  await f.db.db.update(users).set({ isSuperuser: true }).where(inArray(users.id, ids))
  return made
}

const patch = (jwt: string, id: string, json: unknown) => f.t.request(`/api/v1/admin/users/${id}`, { method: 'PATCH', bearer: jwt, json })
const activeSuperusers = async () =>
  (
    await f.db.db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.isSuperuser, true), eq(users.isActive, true)))
  ).map((u) => u.id)
const LAST = { detail: 'Cannot remove the last active superuser' }

describe('the last active superuser', () => {
  beforeEach(async () => {
    await f.db.db.update(users).set({ isSuperuser: false })
  })

  it('cannot demote or deactivate themselves; renaming is fine', async () => {
    const [a] = await onlySuperusers(1)
    for (const json of [{ is_superuser: false }, { is_active: false }, { is_active: false, is_superuser: false }]) {
      const res = await patch(a!.jwt, a!.user.id, json)
      expect(res.status, JSON.stringify(json)).toBe(409)
      expect(await res.json()).toEqual(LAST)
    }
    expect((await patch(a!.jwt, a!.user.id, { full_name: 'Still here', is_superuser: true, is_active: true })).status).toBe(200)
    expect(await activeSuperusers()).toEqual([a!.user.id])
  })

  it('an inactive superuser does not count: the one active one stays', async () => {
    const [a, b] = await onlySuperusers(2)
    expect((await patch(a!.jwt, b!.user.id, { is_active: false })).status).toBe(200)
    expect(await patch(a!.jwt, a!.user.id, { is_superuser: false }).then((r) => r.status)).toBe(409)
    // The inactive one may lose the flag: it was not an active superuser.
    expect((await patch(a!.jwt, b!.user.id, { is_superuser: false })).status).toBe(200)
  })

  it('two superusers demoting each other at once: exactly one wins, the other gets 409', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = await onlySuperusers(2)
      const ctx = (id: string): AuditContext => ({ actorType: 'admin', actorId: id })
      // Through the service, so both are past their superuser check before either commits.
      const results = await Promise.allSettled([
        f.t.services.adminUsers.update(b!.user.id, { isSuperuser: false }, ctx(a!.user.id)),
        f.t.services.adminUsers.update(a!.user.id, { isSuperuser: false }, ctx(b!.user.id)),
      ])
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(refused.reason).toMatchObject({ code: 'last_superuser', message: LAST.detail })
      expect((await activeSuperusers()).length).toBe(1)
    }
  })

  // Over HTTP the loser may not even reach the guard: its own superuser check can come after the winner's commit (403).
  it('…and over HTTP, deactivating each other: one 200, the other refused; one active superuser left', async () => {
    const [a, b] = await onlySuperusers(2)
    const [ra, rb] = await Promise.all([patch(a!.jwt, b!.user.id, { is_active: false }), patch(b!.jwt, a!.user.id, { is_active: false })])
    const statuses = [ra!.status, rb!.status].sort()
    expect(statuses[0]).toBe(200)
    expect([403, 409]).toContain(statuses[1])
    expect((await activeSuperusers()).length).toBe(1)
  })
})
