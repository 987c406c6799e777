// "Open Zenzefi" without a token in any URL: the account page asks for a code that names one
// of the user's tokens, valid LAUNCH_CODE_SECONDS and good once, and sends the browser to
// BACKEND_URL/api/v1/proxy/?launch=<code>; the proxy trades it for the access cookie. Only the
// code's SHA-256 is stored, and redeeming is one conditional UPDATE, so two tabs racing with
// the same code get one cookie between them.

import { and, eq, gt, isNull, lt } from 'drizzle-orm'
import { generateAccessToken, hashAccessToken, TOKEN_PATTERN, type TokenCipher } from '../crypto/access-token'
import type { Db } from '../db/client'
import { accessTokens, launchCodes } from '../db/schema'
import type { Audit, AuditContext } from './audit'
import type { Clock } from './clock'
import { DomainError } from './errors'

export const LAUNCH_CODE_SECONDS = 60

export function createLaunchCodes(deps: { db: Db; cipher: TokenCipher; clock: Clock; audit: Audit }) {
  const { db, cipher, clock, audit } = deps

  return {
    /** A code for one of `userId`'s live tokens; a token that isn't theirs, or is revoked or over, is token_not_found. */
    async issue(userId: string, tokenId: string, ctx: AuditContext): Promise<string> {
      const now = clock.now()
      const code = generateAccessToken()
      await db.transaction(async (tx) => {
        const [token] = await tx
          .select({ id: accessTokens.id, isActive: accessTokens.isActive, expiresAt: accessTokens.expiresAt })
          .from(accessTokens)
          .where(and(eq(accessTokens.id, tokenId), eq(accessTokens.userId, userId)))
        if (!token?.isActive || (token.expiresAt && token.expiresAt <= now)) throw new DomainError('token_not_found')
        await tx.insert(launchCodes).values({
          codeHash: await hashAccessToken(code),
          userId,
          tokenId,
          createdAt: now,
          expiresAt: new Date(now.getTime() + LAUNCH_CODE_SECONDS * 1000),
        })
        await audit.record(tx, { action: 'token.launch', ...ctx, subjectUserId: userId, resourceType: 'token', resourceId: tokenId })
      })
      return code
    },

    /** The access token a fresh, unused code stands for, spending the code; null for anything else. */
    async redeem(code: string): Promise<string | null> {
      if (!TOKEN_PATTERN.test(code)) return null
      const now = clock.now()
      const [used] = await db
        .update(launchCodes)
        .set({ usedAt: now })
        .where(and(eq(launchCodes.codeHash, await hashAccessToken(code)), isNull(launchCodes.usedAt), gt(launchCodes.expiresAt, now)))
        .returning({ tokenId: launchCodes.tokenId })
      if (!used) return null
      const [token] = await db.select({ ciphertext: accessTokens.tokenCiphertext }).from(accessTokens).where(eq(accessTokens.id, used.tokenId))
      if (!token) return null
      return cipher.decrypt(token.ciphertext) // null if SECRET_KEY changed since the purchase
    },

    /** Codes past their minute are of no use to anyone; the sweeper deletes them. */
    async prune(): Promise<number> {
      const gone = await db
        .delete(launchCodes)
        .where(lt(launchCodes.expiresAt, new Date(clock.now().getTime() - 60_000)))
        .returning({ codeHash: launchCodes.codeHash })
      return gone.length
    },
  }
}

export type LaunchCodes = ReturnType<typeof createLaunchCodes>
