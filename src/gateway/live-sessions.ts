// Open WebSockets and in-flight streams, by the token that opened them, so a
// revoked or expired token loses them within a second or two instead of at
// the next request.

import type { TokenCache } from '../cache/interface'
import { OpenList } from './open-list'

export type CloseReason = 'revoked' | 'expired' | 'shutdown'

/** A download or upload in flight, or a relayed WebSocket. */
export type SessionKind = 'stream' | 'websocket'

interface Session {
  expiresAt: number | null
  kind: SessionKind
  close(reason: CloseReason): void
}

const SWEEP_MS = 1_000

export function createLiveSessions(deps: { cache: TokenCache; now: () => number }) {
  // A token's list stays while it is empty and is dropped by the sweep: not added and deleted per request.
  const byHash = new Map<string, OpenList<Session>>()
  let timer: ReturnType<typeof setInterval> | null = null

  // One stream that can't be closed must not stop the others, nor the revocation that got us here.
  const safeClose = (s: Session, reason: CloseReason) => {
    try {
      s.close(reason)
    } catch {
      // already gone
    }
  }

  const closeToken = (hash: string, reason: CloseReason) => {
    const list = byHash.get(hash)
    if (!list) return
    byHash.delete(hash)
    for (const s of list.take()) safeClose(s, reason)
  }

  // Revocation and deactivation arrive here from this instance and, over Redis, from every other.
  deps.cache.onInvalidate((hashes) => {
    for (const h of hashes) closeToken(h, 'revoked')
  })

  const sweep = () => {
    const now = deps.now()
    for (const [hash, list] of byHash) {
      for (const s of list.take((s) => s.expiresAt !== null && s.expiresAt <= now)) safeClose(s, 'expired')
      if (list.size === 0) byHash.delete(hash)
    }
    if (byHash.size === 0 && timer) {
      clearInterval(timer)
      timer = null
    }
  }

  /**
   * Tracks one open stream; call the returned function when it ends on its own. `onEnd` runs once when the
   * session is over, whichever way it ends (the returned function, a revocation, expiry, shutdown).
   */
  const register = (
    hash: string,
    expiresAt: number | null,
    close: (reason: CloseReason) => void,
    kind: SessionKind = 'stream',
    onEnd?: () => void,
  ): (() => void) => {
    let ended = onEnd === undefined
    const end = () => {
      if (ended) return
      ended = true
      onEnd!()
    }
    const closeAndEnd = (reason: CloseReason) => {
      end()
      close(reason)
    }
    const session: Session = { expiresAt, kind, close: onEnd === undefined ? close : closeAndEnd }
    let list = byHash.get(hash)
    if (!list) byHash.set(hash, (list = new OpenList()))
    const slot = list.add(session)
    if (!timer) {
      timer = setInterval(sweep, SWEEP_MS)
      // Unref'd where timers support it (Node), so open sessions never keep a process alive.
      ;(timer as { unref?: () => void }).unref?.()
    }
    return () => {
      end()
      list.remove(slot)
    }
  }

  return {
    register,

    /**
     * register() for runtimes whose I/O objects belong to the request that made them
     * (Workers: a socket or fetch of request A can't be touched from request B, and a
     * timer dies with the request that started it). `close` always runs in the caller's
     * own context: a revocation heard while serving another request only resolves a
     * promise made here, and expiry is checked by a timer started here, which lives
     * exactly as long as this stream. Same effect as register() on Node.
     */
    registerOwned(hash: string, expiresAt: number | null, close: (reason: CloseReason) => void, kind: SessionKind = 'stream', onEnd?: () => void): () => void {
      let done = false
      let fire!: (reason: CloseReason) => void
      const fired = new Promise<CloseReason>((resolve) => (fire = resolve))
      const timer =
        expiresAt === null
          ? null
          : setInterval(() => {
              if (expiresAt <= deps.now()) fire('expired')
            }, SWEEP_MS)
      ;(timer as { unref?: () => void } | null)?.unref?.()
      const unregister = register(hash, expiresAt, (reason) => fire(reason), kind, onEnd)
      const end = () => {
        done = true
        if (timer) clearInterval(timer)
        unregister()
      }
      void fired.then((reason) => {
        if (done) return
        end()
        close(reason)
      })
      if (expiresAt !== null && expiresAt <= deps.now()) fire('expired')
      return end
    },

    /**
     * Ends every open stream and WebSocket, or only those of `kind` (graceful shutdown: WebSockets get 1001
     * when it starts, downloads are left to finish and only cut at its deadline).
     */
    closeAll(reason: CloseReason, kind?: SessionKind) {
      const chosen: Session[] = []
      for (const [hash, list] of byHash) {
        chosen.push(...list.take((s) => kind === undefined || s.kind === kind))
        if (list.size === 0) byHash.delete(hash)
      }
      for (const s of chosen) safeClose(s, reason)
    },
    /** Open sessions of one kind for one token on this instance. */
    count(hash: string, kind: SessionKind): number {
      let n = 0
      for (const s of byHash.get(hash)?.values() ?? []) if (s.kind === kind) n++
      return n
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
