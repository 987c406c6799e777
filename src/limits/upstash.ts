// The limiter over Upstash's REST API (the Workers runtime's Redis). Web-standard
// APIs only. The same script and keys as redis.ts, so Node and Workers instances
// on one Redis count together: EVALSHA, and EVAL on NOSCRIPT.
import { type UpstashStoreOptions, upstashClient, upstashFailure } from '../cache/upstash'
import { decodeScriptReply, GCRA_SCRIPT, isNoScript, scriptArgs, scriptSha } from './gcra'
import type { Limiter } from './interface'

export function createUpstashLimiter(opts: UpstashStoreOptions): Limiter {
  const redis = upstashClient(opts)
  // Upstash's errors quote the whole command (keys, arguments); keep only the reason.
  const failure = (err: unknown) => upstashFailure('rate limit', err)

  return {
    kind: 'upstash',
    async apply(charges, mode, now) {
      if (charges.length === 0) return { allowed: true, refused: -1, results: [] }
      const { keys, args } = scriptArgs(charges, mode, now)
      let reply: unknown
      try {
        try {
          reply = await redis.evalsha(await scriptSha(), keys, args)
        } catch (err) {
          if (!isNoScript(err)) throw err
          reply = await redis.eval(GCRA_SCRIPT, keys, args)
        }
      } catch (err) {
        throw failure(err)
      }
      return decodeScriptReply(reply, charges.length)
    },
    async reset(keys) {
      if (keys.length === 0) return
      try {
        await redis.del(...keys)
      } catch (err) {
        throw failure(err)
      }
    },
    async close() {
      // Stateless HTTP: nothing to close.
    },
  }
}
