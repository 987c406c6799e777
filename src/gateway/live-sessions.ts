// Open WebSockets and in-flight streams, by the token that opened them, so a
// revoked or expired token loses them within a second or two instead of at
// the next request.

import type { TokenCache } from '../cache/interface'

export type CloseReason = 'revoked' | 'expired'

interface Session {
  expiresAt: number | null
  close(reason: CloseReason): void
}

const SWEEP_MS = 1_000

export function createLiveSessions(deps: { cache: TokenCache; now: () => number }) {
  const byHash = new Map<string, Set<Session>>()
  let timer: ReturnType<typeof setInterval> | null = null

  const closeAll = (hash: string, reason: CloseReason) => {
    const set = byHash.get(hash)
    if (!set) return
    byHash.delete(hash)
    for (const s of set) s.close(reason)
  }

  // Revocation and deactivation arrive here from this instance and, over Redis, from every other.
  deps.cache.onInvalidate((hashes) => {
    for (const h of hashes) closeAll(h, 'revoked')
  })

  const sweep = () => {
    const now = deps.now()
    for (const [hash, set] of byHash) {
      for (const s of set) {
        if (s.expiresAt !== null && s.expiresAt <= now) {
          set.delete(s)
          s.close('expired')
        }
      }
      if (set.size === 0) byHash.delete(hash)
    }
    if (byHash.size === 0 && timer) {
      clearInterval(timer)
      timer = null
    }
  }

  return {
    /** Tracks one open stream; call the returned function when it ends on its own. */
    register(hash: string, expiresAt: number | null, close: (reason: CloseReason) => void): () => void {
      const session: Session = { expiresAt, close }
      let set = byHash.get(hash)
      if (!set) byHash.set(hash, (set = new Set()))
      set.add(session)
      if (!timer) {
        timer = setInterval(sweep, SWEEP_MS)
        // Unref'd where timers support it (Node), so open sessions never keep a process alive.
        ;(timer as { unref?: () => void }).unref?.()
      }
      return () => {
        const s = byHash.get(hash)
        if (!s) return
        s.delete(session)
        if (s.size === 0) byHash.delete(hash)
      }
    },
    get size() {
      let n = 0
      for (const s of byHash.values()) n += s.size
      return n
    },
    stop() {
      if (timer) clearInterval(timer)
      timer = null
    },
  }
}

export type LiveSessions = ReturnType<typeof createLiveSessions>
