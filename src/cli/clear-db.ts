import type { TokenCache } from '../cache/interface'
import type { Db } from '../db/client'
import { accessTokens, users } from '../db/schema'
import { reach } from './invalidation'
import type { Output } from './io'

/**
 * `clear-db`: deletes every access token and user in one transaction; the schema
 * and migration state stay. The deleted tokens are then invalidated in the cache
 * so no instance keeps honouring a cached grant for a token that no longer exists.
 */
export async function clearDb(deps: { db: Db; cache: TokenCache }, io: Output): Promise<{ users: number; accessTokens: number }> {
  const { hashes, userCount } = await deps.db.transaction(async (tx) => {
    const tokens = await tx.delete(accessTokens).returning({ hash: accessTokens.tokenHash })
    const gone = await tx.delete(users).returning({ id: users.id })
    return { hashes: tokens.map((t) => t.hash), userCount: gone.length }
  })
  await deps.cache.invalidate(hashes)
  io.out(`deleted ${userCount} user(s) and ${hashes.length} access token(s); schema and migrations kept`)
  if (hashes.length > 0) io.out(`the deleted tokens are refused ${reach(deps.cache.kind)}`)
  return { users: userCount, accessTokens: hashes.length }
}
