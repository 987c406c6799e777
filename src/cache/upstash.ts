// The shared token store over Upstash's REST API: the Workers runtime's Redis.
// Web-standard APIs only (fetch, AbortSignal) — this module runs in workerd.
//
// It reads and writes the very keys the Node runtime's node-redis store does
// (./keys: `zenzefi:token:<hash>`, JSON grant, EX ttl), so Node and Workers
// instances can share one Redis.
//
// Invalidation across runtimes:
// - publishInvalidation PUBLISHes on the same channel, with the same message, as
//   redis.ts. Node instances subscribed over TCP hear a revoke made in a Worker
//   and drop their in-process copy at once.
// - onInvalidation cannot hear other instances. A subscription is a long-lived
//   connection, and a Worker isolate lives only as long as its requests (the REST
//   API's SUBSCRIBE is a streaming response no request should hold open). So the
//   listener is recorded and only hears this isolate's own publishes. What bounds
//   staleness in a Worker instead:
//     1. the invalidating instance DELs the key, so every isolate's next shared
//        lookup misses and goes to Postgres;
//     2. the Worker's in-process tier must be tiny and short-lived (the worker
//        wiring passes a short localTtlMs): a revoke made elsewhere is honoured by
//        an isolate no later than that.
import { Redis } from '@upstash/redis/cloudflare'
import type { SharedTokenStore } from './interface'
import { decodeGrant, encodeGrant, encodeInvalidation, expirySeconds, INVALIDATION_CHANNEL, tokenKey } from './keys'

/** A command past this is a miss: a slow Upstash must not stall the request. Covers connect, TLS and the reply. */
export const UPSTASH_COMMAND_TIMEOUT_MS = 300

export interface UpstashStoreOptions {
  /** UPSTASH_REDIS_REST_URL */
  url: string
  /** UPSTASH_REDIS_REST_TOKEN */
  token: string
  timeoutMs?: number
}

/**
 * Upstash's client puts the whole command (keys, and the grant on a SET) into its
 * error messages; keep only the reason, as node-redis errors do.
 */
export function upstashFailure(op: string, err: unknown): Error {
  const reason = String((err as Error)?.message ?? err).split(', command was:')[0]
  return new Error(`upstash ${op} failed: ${reason}`)
}
const failure = upstashFailure

/** The Upstash REST client as every shared store of ours uses it (the token cache, the limiter). */
export function upstashClient(opts: UpstashStoreOptions): Redis {
  const timeoutMs = opts.timeoutMs ?? UPSTASH_COMMAND_TIMEOUT_MS
  return new Redis({
    url: opts.url,
    token: opts.token,
    // A signal factory: a fresh deadline per HTTP request, and an abort that
    // rejects (a shared signal would be turned into a fake successful reply).
    signal: () => AbortSignal.timeout(timeoutMs),
    // No retries: a failed command is a miss now, not backoff in the request path.
    retry: { retries: 0, backoff: () => 0 },
    // Values are our JSON (./keys decodes them), not the client's guesses.
    automaticDeserialization: false,
    enableTelemetry: false,
  })
}

export function createUpstashStore(opts: UpstashStoreOptions): SharedTokenStore {
  const redis = upstashClient(opts)
  // Commands issued in the same tick share one POST /pipeline (the client's auto-pipelining).

  const run = async <T>(op: string, command: () => Promise<T>): Promise<T> => {
    try {
      return await command()
    } catch (err) {
      throw failure(op, err)
    }
  }

  const listeners: ((hashes: string[]) => void)[] = []

  return {
    kind: 'upstash',
    async get(hash) {
      const raw = await run('get', () => redis.get<string>(tokenKey(hash)))
      return decodeGrant(raw)
    },
    async set(hash, grant, ttlSeconds) {
      await run('set', () => redis.set(tokenKey(hash), encodeGrant(grant), { ex: expirySeconds(ttlSeconds) }))
    },
    async delete(hashes) {
      if (hashes.length) await run('del', () => redis.del(...hashes.map(tokenKey)))
    },
    async publishInvalidation(hashes) {
      if (hashes.length === 0) return
      // This isolate hears its own invalidation, as a subscriber would (see the file header).
      for (const l of listeners) l(hashes)
      await run('publish', () => redis.publish(INVALIDATION_CHANNEL, encodeInvalidation(hashes)))
    },
    async onInvalidation(listener) {
      // No push delivery over REST in a Worker (see the file header): recorded for this isolate's own publishes only.
      listeners.push(listener)
    },
    async ping() {
      await run('ping', () => redis.ping())
    },
    async close() {
      // Stateless HTTP: no connection to close.
    },
  }
}
