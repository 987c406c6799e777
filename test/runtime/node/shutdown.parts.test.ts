// The parts of graceful shutdown on their own: /health/ready, the two settings, closing
// sessions of one kind, and server.shutdown() called twice. (shutdown.test.ts kills a real process.)
import { describe, expect, it } from 'vitest'
import { createTieredCache } from '../../../src/cache/tiered'
import { ConfigError, loadConfig } from '../../../src/config'
import { type CloseReason, createLiveSessions } from '../../../src/gateway/live-sessions'
import { createLogger } from '../../../src/logger'
import { startGateway } from '../../support/gateway'
import { appFixture, TEST_SECRET, testDatabase } from '../../support/harness'

const f = appFixture()

describe('/health/ready', () => {
  it('200 {"status":"ready"}, then 503 {"status":"draining"} once draining starts; never cached', async () => {
    const before = await f.t.request('/health/ready')
    expect(before.status).toBe(200)
    expect(await before.json()).toEqual({ status: 'ready' })
    expect(before.headers.get('cache-control')).toBe('no-store')
    f.t.services.health.startDraining()
    const after = await f.t.request('/health/ready')
    expect(after.status).toBe(503)
    expect(await after.json()).toMatchObject({ status: 'draining' })
    expect(after.headers.get('cache-control')).toBe('no-store')
  })

  it('is in the OpenAPI document with both answers', async () => {
    const doc = await (await f.t.request('/openapi.json')).json()
    const op = doc.paths['/health/ready'].get
    expect(Object.keys(op.responses).sort()).toEqual(['200', '503'])
    expect(doc.components.schemas.Ready.properties.status).toMatchObject({ enum: ['ready'] })
    expect(doc.components.schemas.Draining.properties.status).toMatchObject({ enum: ['draining'] })
  })
})

describe('SHUTDOWN_DRAIN_SECONDS and SHUTDOWN_TIMEOUT_SECONDS', () => {
  const base = { SECRET_KEY: TEST_SECRET }
  it('default: 2 s of drain in production, none elsewhere; 25 s for in-flight work', () => {
    expect(loadConfig({ ...base, NODE_ENV: 'production' })).toMatchObject({ shutdownDrainSeconds: 2, shutdownTimeoutSeconds: 25 })
    expect(loadConfig({ ...base })).toMatchObject({ shutdownDrainSeconds: 0, shutdownTimeoutSeconds: 25 })
    expect(loadConfig({ ...base, NODE_ENV: 'test' })).toMatchObject({ shutdownDrainSeconds: 0 })
    expect(loadConfig({ ...base, SHUTDOWN_DRAIN_SECONDS: '5', SHUTDOWN_TIMEOUT_SECONDS: '0' })).toMatchObject({
      shutdownDrainSeconds: 5,
      shutdownTimeoutSeconds: 0,
    })
  })
  it('a bad value stops the start, naming the variable', () => {
    expect(() => loadConfig({ ...base, SHUTDOWN_DRAIN_SECONDS: '-1' })).toThrow(new ConfigError('SHUTDOWN_DRAIN_SECONDS must be an integer between 0 and 300'))
    expect(() => loadConfig({ ...base, SHUTDOWN_TIMEOUT_SECONDS: 'soon' })).toThrow(/^SHUTDOWN_TIMEOUT_SECONDS must be an integer/)
  })
})

describe('closeAll by kind', () => {
  it('closes only WebSockets, or only streams, or everything; closed ones are forgotten', async () => {
    const sessions = createLiveSessions({
      cache: await createTieredCache(
        null,
        createLogger(() => {}),
      ),
      now: () => 0,
    })
    const closed: string[] = []
    const add = (name: string, kind: 'stream' | 'websocket') => sessions.register('h', null, (r: CloseReason) => closed.push(`${name}:${r}`), kind)
    add('ws1', 'websocket')
    add('dl1', 'stream')
    add('ws2', 'websocket')
    sessions.closeAll('shutdown', 'websocket')
    expect(closed).toEqual(['ws1:shutdown', 'ws2:shutdown'])
    expect(sessions.size).toBe(1)
    add('ws3', 'websocket')
    sessions.closeAll('shutdown', 'stream')
    expect(closed.slice(2)).toEqual(['dl1:shutdown'])
    expect(sessions.count('h', 'websocket')).toBe(1)
    sessions.closeAll('shutdown')
    expect(closed.slice(3)).toEqual(['ws3:shutdown'])
    expect(sessions.size).toBe(0)
    sessions.stop()
  })
})

describe('server.shutdown()', () => {
  it('called twice: one shutdown, both callers told when it is over; readiness says draining', async () => {
    const db = await testDatabase()
    const g = await startGateway({ database: db, upstream: { url: 'http://127.0.0.1:9' } })
    try {
      const first = new Promise<void>((r) => g.server.shutdown(r))
      const second = new Promise<void>((r) => g.server.shutdown(r))
      expect(g.t.services.health.readiness()).toEqual({ status: 'draining' })
      await Promise.all([first, second])
      expect(g.server.listening).toBe(false)
    } finally {
      await g.t.close()
      await db.drop()
    }
  })
})
