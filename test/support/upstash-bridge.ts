import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createClient, ErrorReply, RESP_TYPES } from 'redis'

/**
 * Upstash's REST protocol in front of a real Redis, for tests: what
 * `@upstash/redis` sends, translated to node-redis `sendCommand`, with Redis's
 * own replies and errors. (For local use outside tests, docker-compose's
 * `upstash-bridge` service runs the full serverless-redis-http image.)
 *
 * - POST /            body ["CMD", "arg", …]            → {"result": r}; a Redis error is 400 {"error": "ERR …"}
 * - POST /pipeline    body [["CMD", …], …]              → 200 [{"result": r} | {"error": "…"}, …], each command on its own
 * - POST /multi-exec  body [["CMD", …], …]              → the same shape, run in MULTI/EXEC; a command Redis refuses
 *                                                          to queue aborts it all: 400 {"error": "EXECABORT …"}
 * - Authorization: Bearer <token>; missing or wrong    → 401 {"error": "Unauthorized"}
 * - Redis unreachable (not an error reply)             → 500 {"error": "…"}
 * - Upstash-Encoding: base64 (the client's default)    → every string in a result base64-encoded (binary-safe),
 *                                                          except a top-level "OK" status reply; numbers and null as is
 * Arguments may be JSON strings, numbers or booleans (sent as their text). Redis
 * is spoken in RESP2, as Upstash's replies are (flat arrays, numbers as strings).
 */
export async function startUpstashBridge(opts: { redisUrl: string; token?: string }) {
  const token = opts.token ?? 'bridge-test-token'
  // Bulk strings as Buffers, so a value's bytes survive and a status reply ("OK", "PONG") stays distinguishable.
  const redis = createClient({ url: opts.redisUrl, RESP: 2, commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } })
  redis.on('error', () => {})
  await redis.connect()

  const server = createServer((req, res) => {
    // Anything thrown that isn't Redis refusing a command (a lost connection) is a server error.
    handle(req, res).catch((err: unknown) => reply(res, 500, { error: redisError(err) }))
  })
  let requests = 0

  async function handle(req: IncomingMessage, res: ServerResponse) {
    requests++
    const path = new URL(req.url ?? '/', 'http://bridge').pathname
    const route = path === '/' ? 'single' : path === '/pipeline' ? 'pipeline' : path === '/multi-exec' ? 'multi' : null
    if (req.method !== 'POST') return reply(res, 405, { error: 'ERR this bridge only takes POST' })
    if (!route) return reply(res, 404, { error: `ERR this bridge only speaks POST /, /pipeline and /multi-exec, not ${path}` })
    if (req.headers.authorization !== `Bearer ${token}`) return reply(res, 401, { error: 'Unauthorized' })
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64'

    let body: unknown
    try {
      body = JSON.parse(await readBody(req))
    } catch {
      return reply(res, 400, { error: 'ERR the body is not JSON' })
    }
    const commands = route === 'single' ? [body] : Array.isArray(body) ? body : null
    if (!commands || commands.length === 0) return reply(res, 400, { error: 'ERR the body must be a command array (or an array of them)' })
    const parsed = commands.map(toArgs)
    const bad = parsed.find((c): c is { error: string } => !Array.isArray(c))
    if (bad) return reply(res, 400, bad)
    const args = parsed as string[][]

    if (route === 'single') {
      try {
        return reply(res, 200, { result: encode(await redis.sendCommand(args[0]!), base64, true) })
      } catch (err) {
        if (err instanceof ErrorReply) return reply(res, 400, { error: redisError(err) })
        throw err
      }
    }
    if (route === 'pipeline') {
      // Sent back to back on one connection, in order; each stands alone (no atomicity, as on Upstash).
      const settled = await Promise.allSettled(args.map((a) => redis.sendCommand(a)))
      throwUnlessReplies(settled)
      return reply(
        res,
        200,
        settled.map((s) => entry(s, base64)),
      )
    }
    // MULTI, the commands and EXEC are queued in one synchronous run, so no other
    // request's command can land inside the transaction on the shared connection.
    const queued = [redis.sendCommand(['MULTI']), ...args.map((a) => redis.sendCommand(a)), redis.sendCommand(['EXEC'])]
    const settled = await Promise.allSettled(queued)
    throwUnlessReplies(settled)
    const exec = settled[settled.length - 1]!
    if (exec.status === 'rejected') return reply(res, 400, { error: redisError(exec.reason) })
    if (!Array.isArray(exec.value)) return reply(res, 400, { error: 'ERR transaction aborted' })
    return reply(
      res,
      200,
      exec.value.map((r: unknown) => entry(r instanceof Error ? { status: 'rejected', reason: r } : { status: 'fulfilled', value: r }, base64)),
    )
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    token,
    /** HTTP requests received, to check how a client batched its commands. */
    requests: () => requests,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await redis.close().catch(() => redis.destroy())
    },
  }
}

export type UpstashBridge = Awaited<ReturnType<typeof startUpstashBridge>>

/**
 * Commands that would change the shared connection's state (transactions,
 * database, subscriptions) or block it: Upstash runs each request on its own;
 * this bridge shares one connection, so it refuses them (400, the whole request) rather than differ.
 */
const REFUSED = new Set([
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'select',
  'auth',
  'hello',
  'quit',
  'reset',
  'monitor',
  'client',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'wait',
  'waitaof',
])

function toArgs(command: unknown): string[] | { error: string } {
  if (!Array.isArray(command) || command.length === 0) return { error: 'ERR a command is a non-empty JSON array' }
  const args: string[] = []
  for (const a of command) {
    if (typeof a === 'string') args.push(a)
    else if (typeof a === 'number' || typeof a === 'boolean') args.push(String(a))
    else return { error: 'ERR command arguments must be strings, numbers or booleans' }
  }
  if (REFUSED.has(args[0]!.toLowerCase())) return { error: `ERR '${args[0]}' is not supported by the REST bridge` }
  return args
}

function throwUnlessReplies(settled: PromiseSettledResult<unknown>[]) {
  for (const s of settled) if (s.status === 'rejected' && !(s.reason instanceof ErrorReply)) throw s.reason
}

function entry(s: PromiseSettledResult<unknown>, base64: boolean) {
  return s.status === 'fulfilled' ? { result: encode(s.value, base64, true) } : { error: redisError(s.reason) }
}

/** A RESP2 reply as Upstash writes it in JSON. */
function encode(value: unknown, base64: boolean, top: boolean): unknown {
  if (value === null || value === undefined) return null
  if (typeof value === 'number') return value
  if (Buffer.isBuffer(value)) return base64 ? value.toString('base64') : value.toString('utf8')
  if (typeof value === 'string') return !base64 || (top && value === 'OK') ? value : Buffer.from(value, 'utf8').toString('base64')
  if (Array.isArray(value)) return value.map((v) => (v instanceof Error ? null : encode(v, base64, false)))
  throw new Error(`unexpected reply type ${typeof value}`)
}

function redisError(err: unknown): string {
  return String((err as Error)?.message ?? err)
}

function reply(res: ServerResponse, status: number, body: unknown) {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
  res.end(json)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
