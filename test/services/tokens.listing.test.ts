// A page's token list carries no token; Copy reveals one token, only the owner's and only while it is live.
import { beforeAll, describe, expect, it } from 'vitest'
import { appFixture, signUp } from '../support/harness'

const f = appFixture()
let userId: string
beforeAll(async () => {
  userId = (await signUp(f.t)).user.id
})

describe('token listing and reveal', () => {
  it('summaries list every token of the user without the token itself; the API listing has it', async () => {
    const a = (await f.t.services.tokens.purchase(userId, 1)).token
    const b = (await f.t.services.tokens.purchase(userId, 24)).token
    const summaries = await f.t.services.tokens.summariesForUser(userId, false)
    expect(summaries.map((t) => t.id).sort()).toEqual([a.id, b.id].sort())
    for (const t of summaries) expect(t).not.toHaveProperty('token')
    // The same rows in the same order, with the token added.
    const full = await f.t.services.tokens.listForUser(userId, false)
    expect(full.map(({ token: _, ...rest }) => rest)).toEqual(summaries)
    expect(full.map((t) => t.token).sort()).toEqual([a.token, b.token].sort())
  })

  it('reveals the owner’s live token; not another user’s, not a revoked one, not an unknown id', async () => {
    const mine = (await f.t.services.tokens.purchase(userId, 24)).token
    expect(await f.t.services.tokens.revealOwn(userId, mine.id)).toBe(mine.token)
    const other = await signUp(f.t)
    const theirs = (await f.t.services.tokens.purchase(other.user.id, 24)).token
    expect(await f.t.services.tokens.revealOwn(userId, theirs.id)).toBeNull()
    expect(await f.t.services.tokens.revealOwn(other.user.id, theirs.id)).toBe(theirs.token)
    await f.t.services.tokens.revoke(userId, mine.id)
    expect(await f.t.services.tokens.revealOwn(userId, mine.id)).toBeNull()
    expect(await f.t.services.tokens.revealOwn(userId, '00000000-0000-4000-8000-000000000000')).toBeNull()
  })
})
