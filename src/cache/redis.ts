import { createClient } from 'redis'
import type { SharedTokenStore } from './interface'
import { decodeGrant, decodeInvalidation, encodeGrant, encodeInvalidation, expirySeconds, INVALIDATION_CHANNEL, tokenKey } from './keys'

/** Commands past this are a miss: a slow Redis must not slow the proxy more than a database read would. */
const COMMAND_TIMEOUT_MS = 250

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis command timed out')), COMMAND_TIMEOUT_MS)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** node-redis over TCP (Node runtime). A second connection carries the pub/sub subscription. */
export async function createRedisStore(url: string): Promise<SharedTokenStore> {
  const options = {
    url,
    // Fail commands at once while disconnected instead of queueing them behind a dead socket.
    disableOfflineQueue: true,
    socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) },
  }
  const client = createClient(options)
  const subscriber = createClient(options)
  // Errors surface as rejected commands; the 'error' event only needs a listener so it doesn't crash the process.
  client.on('error', () => {})
  subscriber.on('error', () => {})
  // Start without Redis if need be: the clients keep reconnecting, and until then every lookup is a miss.
  const connecting = Promise.all([client.connect(), subscriber.connect()])
  connecting.catch(() => {})
  await Promise.race([connecting, new Promise((r) => setTimeout(r, 2_000))])

  let listener: ((hashes: string[]) => void) | null = null
  let subscribed = false
  const subscribe = async () => {
    if (!listener || subscribed || !subscriber.isReady) return
    subscribed = true
    const deliver = listener
    await subscriber
      .subscribe(INVALIDATION_CHANNEL, (message) => deliver(decodeInvalidation(String(message))))
      .catch(() => {
        subscribed = false
      })
  }
  // node-redis re-subscribes after a reconnect itself; this covers a start while Redis was down.
  subscriber.on('ready', () => void subscribe())

  return {
    kind: 'redis',
    async get(hash) {
      const raw = await withTimeout(client.get(tokenKey(hash)))
      return decodeGrant(raw === null ? null : String(raw))
    },
    async set(hash, grant, ttlSeconds) {
      await withTimeout(client.set(tokenKey(hash), encodeGrant(grant), { expiration: { type: 'EX', value: expirySeconds(ttlSeconds) } }))
    },
    async delete(hashes) {
      if (hashes.length) await withTimeout(client.del(hashes.map(tokenKey)))
    },
    async publishInvalidation(hashes) {
      if (hashes.length) await withTimeout(client.publish(INVALIDATION_CHANNEL, encodeInvalidation(hashes)))
    },
    async onInvalidation(fn) {
      listener = fn
      await subscribe()
    },
    async ping() {
      await withTimeout(client.ping())
    },
    async close() {
      for (const c of [client, subscriber]) {
        if (c.isOpen) await c.close().catch(() => c.destroy())
        else c.destroy()
      }
    },
  }
}
