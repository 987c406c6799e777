// The two runtimes the parity suite runs against, each reduced to a base URL.
// Both get the same environment contract, the same kind of database and Redis,
// and the same plain-HTTP upstream; the suite only speaks HTTP and WebSocket to them.

import { freePort, startGateway } from '../support/gateway'
import { TEST_SECRET, type TestDatabase, testDatabase } from '../support/harness'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge'
import { buildWorker, startWorker } from '../support/worker'

export interface Target {
  /** http://127.0.0.1:<port> */
  url: string
  /** Another instance on the same database and cache, pointed at `upstreamUrl` (e.g. a dead one). */
  sibling(upstreamUrl: string): Promise<{ url: string; close(): Promise<void> }>
  close(): Promise<void>
}

export interface TargetOptions {
  upstreamUrl: string
  backendUrl: string
  /** A real Redis both runtimes share through: node-redis on Node, the Upstash REST bridge on Workers. */
  redisUrl: string | null
  /** More of the environment contract, the same for both. */
  env?: Record<string, string>
}

export interface TargetKind {
  name: 'node' | 'worker'
  /** Why this target can't run here, or null. */
  unavailable: string | null
  start(opts: TargetOptions): Promise<Target>
}

/** The Node server exactly as `npm start` wires it (fast proxy path, Hono app, ws relay). */
export const nodeTarget: TargetKind = {
  name: 'node',
  unavailable: null,
  async start(opts) {
    const database = await testDatabase()
    const env = (upstream: string) => ({
      ZENZEFI_TARGET_URL: upstream,
      BACKEND_URL: opts.backendUrl,
      // startApp reads REDIS_URL itself; an explicit one (e.g. the suite's own redis-server) wins.
      ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
      ...opts.env,
    })
    const gw = await startGateway({ database, upstream: { url: opts.upstreamUrl }, env: env(opts.upstreamUrl) })
    return {
      url: gw.url,
      async sibling(upstreamUrl) {
        const other = await startGateway({ database, upstream: { url: upstreamUrl }, env: env(upstreamUrl) })
        return { url: other.url, close: () => other.close() }
      },
      async close() {
        await gw.close()
        await database.drop()
      },
    }
  },
}

let _built: string | null = null

/** The bundle `npm run build:worker` makes, in Miniflare (workerd), against real PostgreSQL and Redis over Upstash REST. */
export const workerTarget: TargetKind = {
  name: 'worker',
  // Workers can't run embedded PGlite: the worker needs a PostgreSQL server it can reach over TCP.
  unavailable: process.env.DATABASE_URL ? null : 'the worker needs a real PostgreSQL: set DATABASE_URL to run it',
  async start(opts) {
    // ~2 s, once per file run; the architecture test builds its own copy elsewhere.
    _built ??= buildWorker()
    const database: TestDatabase = await testDatabase()
    let bridge: UpstashBridge | null = null
    const running: { close(): Promise<void> }[] = []
    try {
      bridge = opts.redisUrl ? await startUpstashBridge({ redisUrl: opts.redisUrl }) : null
      const bindings = (upstream: string): Record<string, string> => ({
        // The same values startApp gives the Node target (NODE_ENV=test allows bcrypt cost 4).
        NODE_ENV: 'test',
        SECRET_KEY: TEST_SECRET,
        BCRYPT_ROUNDS: '4',
        DATABASE_URL: database.url!,
        ZENZEFI_TARGET_URL: upstream,
        BACKEND_URL: opts.backendUrl,
        ...(bridge ? { UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: bridge.token } : {}),
        ...opts.env,
      })
      const worker = await startWorker(bindings(opts.upstreamUrl))
      running.push(worker)
      return {
        url: worker.url,
        async sibling(upstreamUrl) {
          const other = await startWorker(bindings(upstreamUrl))
          return { url: other.url, close: () => other.close() }
        },
        async close() {
          await worker.close()
          await bridge?.close()
          await database.drop()
        },
      }
    } catch (err) {
      for (const r of running) await r.close().catch(() => {})
      await bridge?.close().catch(() => {})
      await database.drop().catch(() => {})
      throw err
    }
  },
}

/** An http:// URL nothing listens on (the port was free a moment ago). */
export async function deadUpstreamUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`
}
