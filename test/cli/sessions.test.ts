import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/run'
import { auditEvents, proxySessions } from '../../src/db/schema'
import { proxyRequest } from '../gateway/steps/request'
import { appFixture, purchase, signUp, TEST_SECRET } from '../support/harness'
import { capture } from './output'

const dataDir = mkdtempSync(join(tmpdir(), 'zenzefi-cli-sessions-'))
const f = appFixture({ DEVICE_LIMIT: '1' })

async function cli(argv: string[]) {
  const io = capture()
  const env = {
    SECRET_KEY: TEST_SECRET,
    DATA_DIR: dataDir,
    ...(f.db.url ? { DATABASE_URL: f.db.url } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  }
  const code = await runCli(argv, { env, io, database: f.db })
  return { code, ...io }
}

/** One proxied request from a device: what the pipeline decides (forward or its refusal's status). */
async function from(token: string, device: string) {
  const out = await f.t.gateway.pipeline.run(proxyRequest({ headers: { 'x-access-token': token, 'x-device-id': device } }))
  if (out.kind === 'forward') {
    out.release()
    return 'forward'
  }
  return out.reply.status
}

describe('sessions / kill-session', () => {
  it('lists who is inside, ends one device’s session so another may start, and refuses twice', async () => {
    const { account, jwt } = await signUp(f.t)
    const bought = await purchase(f.t, jwt)
    expect(await from(bought.token, 'laptop')).toBe('forward')
    expect(await from(bought.token, 'phone')).toBe(409)
    const [open] = await f.db.db.select().from(proxySessions).where(eq(proxySessions.tokenId, bought.id))
    const listed = await cli(['sessions', '--user', account.email])
    expect(listed.code, listed.all()).toBe(0)
    expect(listed.stdout.join('\n')).toContain(`${open!.id}  <${account.email}>  token ${bought.id}  device header`)
    expect(listed.stdout.at(-1)).toBe('1 open session(s)')

    const killed = await cli(['kill-session', '--session', open!.id, '--reason', 'shared token'])
    expect(killed.code, killed.all()).toBe(0)
    expect(killed.stdout.join('\n')).toMatch(/ended session .* within 2 s on every instance/)
    const [ended] = await f.db.db.select().from(proxySessions).where(eq(proxySessions.id, open!.id))
    expect(ended).toMatchObject({ endReason: 'terminated' })
    expect(ended!.endedAt).not.toBeNull()
    const events = await f.db.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'session.terminate'), eq(auditEvents.resourceId, open!.id)))
    expect(events).toEqual([expect.objectContaining({ actorType: 'cli', details: '{"reason":"shared token"}' })])
    // Its place is free: the other device may start now (past the second a refusal is remembered, which
    // the CLI's own cache can't clear in this process without a shared Redis).
    f.t.clock.advance(2_000)
    expect(await from(bought.token, 'phone')).toBe('forward')

    const again = await cli(['kill-session', '--session', open!.id])
    expect(again.code).toBe(1)
    expect(again.all()).toContain('had already ended')
    const bad = await cli(['kill-session', '--session', 'nope'])
    expect(bad.code).toBe(2)
    const all = await cli(['sessions', '--all', '--user', account.email])
    expect(all.stdout.at(-1)).toBe('2 session(s)')
  })
})
