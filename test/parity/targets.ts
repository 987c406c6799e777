// The two runtimes the parity suite runs against, each reduced to a base URL.
// Both get the same environment contract, the same kind of database and Redis,
// and the same plain-HTTP upstream; the suite only speaks HTTP and WebSocket to them.

import type { Readable } from 'node:stream'
import { Miniflare } from 'miniflare'
import { freePort, startGateway } from '../support/gateway'
import { ANY_DEVICES, FREE_TOKENS, TEST_FILE_NAMESPACE, TEST_SECRET, type TestDatabase, testDatabase } from '../support/harness'
import { recordLogLine } from '../support/log-scan'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge'
import { buildWorker, WORKER_BUNDLE, wranglerCompatibility } from '../support/worker'

/** One running instance, reduced to its base URL and what it logged. */
export interface Instance {
  /** http://127.0.0.1:<port> */
  url: string
  /**
   * Every line the instance logged so far: on Node what its Logger wrote (startApp's
   * capture), on Workers the worker's console (workerd's stdout and stderr, one entry a line).
   */
  logs: string[]
  close(): Promise<void>
}

export interface Target extends Instance {
  /**
   * Another instance (a fresh app and server on Node, a fresh Miniflare and isolate on Workers) on the
   * same database and cache, pointed at `upstreamUrl` (e.g. a dead one), with `env` on top.
   */
  sibling(upstreamUrl: string, env?: Record<string, string>): Promise<Instance>
}

export interface TargetOptions {
  upstreamUrl: string
  backendUrl: string
  /** A real Redis both runtimes share through: node-redis on Node, the Upstash REST bridge on Workers. */
  redisUrl: string | null
  /** More of the environment contract, the same for both. */
  env?: Record<string, string>
  /** Listen here (when BACKEND_URL or ACCOUNT_URL must name the port); a free one otherwise. */
  port?: number
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
    const env = (upstream: string, extra?: Record<string, string>) => ({
      ZENZEFI_TARGET_URL: upstream,
      BACKEND_URL: opts.backendUrl,
      // startApp reads REDIS_URL itself; an explicit one (e.g. the suite's own redis-server) wins.
      ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
      ...opts.env,
      ...extra,
    })
    const gw = await startGateway({ database, upstream: { url: opts.upstreamUrl }, env: env(opts.upstreamUrl), port: opts.port })
    return {
      url: gw.url,
      logs: gw.t.logs,
      async sibling(upstreamUrl, extra) {
        const other = await startGateway({ database, upstream: { url: upstreamUrl }, env: env(upstreamUrl, extra) })
        return { url: other.url, logs: other.t.logs, close: () => other.close() }
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
      const bindings = (upstream: string, extra?: Record<string, string>): Record<string, string> => ({
        // The same values startApp gives the Node target (NODE_ENV=test allows bcrypt cost 4).
        NODE_ENV: 'test',
        SECRET_KEY: TEST_SECRET,
        RATE_LIMIT_NAMESPACE: TEST_FILE_NAMESPACE,
        BCRYPT_ROUNDS: '4',
        DATABASE_URL: database.url!,
        ZENZEFI_TARGET_URL: upstream,
        BACKEND_URL: opts.backendUrl,
        ...FREE_TOKENS,
        ...ANY_DEVICES,
        ...(bridge ? { UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: bridge.token } : {}),
        ...opts.env,
        ...extra,
      })
      const worker = await startLoggedWorker(bindings(opts.upstreamUrl), opts.port)
      running.push(worker)
      return {
        url: worker.url,
        logs: worker.logs,
        async sibling(upstreamUrl, extra) {
          return startLoggedWorker(bindings(upstreamUrl, extra))
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

/**
 * The built bundle in Miniflare exactly as support/worker's startWorker runs it (no extra CAs),
 * with the worker's console captured line by line instead of drained (WORKER_LOG=1 also prints it).
 */
export async function startLoggedWorker(bindings: Record<string, string>, port = 0): Promise<Instance> {
  const logs: string[] = []
  const collect = (stream: Readable) => {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      if (process.env.WORKER_LOG) process.stdout.write(chunk)
      const lines = (rest + chunk).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        if (!line.trim()) continue
        logs.push(line)
        recordLogLine(line)
      }
    })
  }
  const mf = new Miniflare({
    scriptPath: WORKER_BUNDLE,
    modules: true,
    ...wranglerCompatibility(),
    bindings,
    cf: false,
    host: '127.0.0.1',
    port,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      collect(stdout)
      collect(stderr)
    },
  })
  const url = await mf.ready
  return { url: url.origin, logs, close: () => mf.dispose() }
}

/** An http:// URL nothing listens on (the port was free a moment ago). */
export async function deadUpstreamUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`
}
