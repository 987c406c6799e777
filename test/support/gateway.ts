import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll } from 'vitest'
import { createNodeServer } from '../../src/runtime/node/server'
import { purchase, signUp, startApp, type TestApp, type TestDatabase, testDatabase } from './harness'
import { testCa } from './test-ca'

export interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
}

/**
 * A real HTTPS upstream (test CA) standing in for Zenzefi: records what it
 * received and answers with the handler the test sets.
 */
export async function startUpstream() {
  const ca = testCa()
  const received: Received[] = []
  let handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void = (_req, res) => res.end('ok')
  const server = createHttpsServer({ key: ca.key, cert: ca.cert }, (req, res) => {
    // Handlers that stream the request body themselves opt out of buffering.
    if ((req.headers['x-test-stream'] ?? '') === '1') {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) })
      return handler(req, res, Buffer.alloc(0))
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body })
      handler(req, res, body)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    url: `https://127.0.0.1:${port}`,
    port,
    caFile: ca.caFile,
    received,
    last: () => received[received.length - 1]!,
    on(h: typeof handler) {
      handler = h
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

export type Upstream = Awaited<ReturnType<typeof startUpstream>>

export interface Gateway {
  t: TestApp
  server: Server & { sessions: { size: number }; shutdown(done: () => void): void }
  url: string
  close(): Promise<void>
}

/** The real Node server (fast proxy path + Hono app) on a loopback port, pointed at the upstream. */
export async function startGateway(opts: {
  database: TestDatabase
  upstream: { url: string; caFile?: string }
  env?: Record<string, string>
  /** Listen here (e.g. a port BACKEND_URL already names); any free port otherwise. */
  port?: number
}): Promise<Gateway> {
  const t = await startApp({
    database: opts.database,
    env: { ZENZEFI_TARGET_URL: opts.upstream.url, ...(opts.upstream.caFile ? { ZENZEFI_CA_FILE: opts.upstream.caFile } : {}), ...opts.env },
  })
  const server = createNodeServer(t.deps, { app: t.app, account: t.account, services: t.services, gateway: t.gateway })
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    t,
    server,
    url,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await t.close()
    },
  }
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

/** A user with a bought (not yet activated) token. */
export async function customer(t: TestApp, hours = 24) {
  const { jwt, user } = await signUp(t)
  const token = await purchase(t, jwt, hours)
  return { jwt, user, token: token.token, tokenId: token.id }
}

/**
 * One test file's world: its own database, a Zenzefi stand-in and the gateway in
 * front of it, started before the file's tests and torn down after them.
 */
export function gatewayFixture(env?: Record<string, string>) {
  const f = {} as { db: TestDatabase; up: Upstream; gw: Gateway }
  beforeAll(async () => {
    f.db = await testDatabase()
    f.up = await startUpstream()
    f.gw = await startGateway({ database: f.db, upstream: f.up, env })
  })
  afterAll(async () => {
    await f.gw?.close()
    await f.up?.close()
    await f.db?.drop()
  })
  return f
}
