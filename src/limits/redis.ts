// The limiter on Redis over TCP (node-redis, Node only: a platform adapter like
// src/cache/redis.ts). One Lua script (gcra.ts) does the whole decision in one
// round trip: EVALSHA, and EVAL when Redis answers NOSCRIPT (after a restart or
// SCRIPT FLUSH), which also puts the script back into its cache.
import { createClient } from 'redis'
import { decodeScriptReply, GCRA_SCRIPT, isNoScript, scriptArgs, scriptSha } from './gcra'
import type { Limiter } from './interface'

export async function createRedisLimiter(url: string): Promise<Limiter> {
  const client = createClient({
    url,
    // Fail at once while disconnected (the fallback then counts in process) instead of queueing behind a dead socket.
    disableOfflineQueue: true,
    socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) },
  })
  client.on('error', () => {})
  const connecting = client.connect()
  connecting.catch(() => {})
  await Promise.race([connecting, new Promise((r) => setTimeout(r, 2_000))])

  return {
    kind: 'redis',
    async apply(charges, mode, now) {
      if (charges.length === 0) return { allowed: true, refused: -1, results: [] }
      const { keys, args } = scriptArgs(charges, mode, now)
      const options = { keys, arguments: args }
      let reply: unknown
      try {
        reply = await client.evalSha(await scriptSha(), options)
      } catch (err) {
        if (!isNoScript(err)) throw err
        reply = await client.eval(GCRA_SCRIPT, options)
      }
      return decodeScriptReply(reply, charges.length)
    },
    async reset(keys) {
      if (keys.length) await client.del(keys)
    },
    async close() {
      if (client.isOpen) await client.close().catch(() => client.destroy())
      else client.destroy()
    },
  }
}
