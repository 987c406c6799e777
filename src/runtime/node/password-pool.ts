import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { PasswordHasher } from '../../crypto/password'
import { fromRoot } from './project-root'

type Job = { id: number; op: 'hash' | 'verify'; password: string; hash?: string; rounds: number }
type Pending = { resolve: (v: string | boolean) => void; reject: (e: Error) => void }
type Thread = { worker: Worker; jobs: Set<number> }

export interface PasswordPool extends PasswordHasher {
  /** Worker threads running now: none until the first hash or check, none again once idle for `idleMs`. */
  readonly threads: number
  close(): Promise<void>
}

/** How long an idle thread is kept for the next login before it is ended. */
const IDLE_MS = 30_000

/**
 * bcrypt at cost 12 is ~300 ms of CPU; done on the main thread a burst of logins
 * would stall every other request. Jobs go to a few worker threads.
 *
 * A thread is its own V8 isolate with bcryptjs loaded (~10 MB resident each), and most of the time
 * nobody is logging in: a thread starts for a job when every running one is busy (up to `size`),
 * and all of them end once none had a job for `idleMs`. Starting one costs ~30 ms, once, on the
 * first check after a quiet spell (a check at cost 12 is ~300 ms).
 */
export function createPasswordPool(
  rounds: number,
  size = Math.max(1, Math.min(4, availableParallelism() - 1)),
  { idleMs = IDLE_MS }: { idleMs?: number } = {},
): PasswordPool {
  const pending = new Map<number, Pending>()
  const threads: Thread[] = []
  let nextId = 0
  let idleTimer: NodeJS.Timeout | null = null
  let closed = false

  const settle = (id: number, error: Error | null, result?: string | boolean) => {
    const p = pending.get(id)
    pending.delete(id)
    if (!p) return
    if (error) p.reject(error)
    else p.resolve(result!)
  }

  const endAll = () => {
    idleTimer = null
    for (const t of threads.splice(0)) void t.worker.terminate()
  }

  const jobDone = (t: Thread, id: number) => {
    t.jobs.delete(id)
    // An idle thread must not keep the process alive (a CLI ends when its work is done).
    if (t.jobs.size === 0) t.worker.unref()
    if (threads.every((x) => x.jobs.size === 0) && !idleTimer && !closed) {
      idleTimer = setTimeout(endAll, idleMs)
      idleTimer.unref()
    }
  }

  const spawn = (): Thread => {
    const t: Thread = { worker: new Worker(fromRoot('src/runtime/node/password-worker.mjs')), jobs: new Set() }
    t.worker.on('message', ({ id, result, error }: { id: number; result?: string | boolean; error?: string }) => {
      jobDone(t, id)
      settle(id, error === undefined ? null : new Error(error), result)
    })
    // A thread that dies takes its jobs with it: they fail rather than wait forever, and the next job gets a new thread.
    const lost = (err: Error) => {
      const at = threads.indexOf(t)
      if (at >= 0) threads.splice(at, 1)
      for (const id of [...t.jobs]) {
        jobDone(t, id)
        settle(id, err)
      }
    }
    t.worker.on('error', lost)
    t.worker.on('exit', (code) => lost(new Error(`password worker exited (${code})`)))
    threads.push(t)
    return t
  }

  /** An idle thread, else a new one while there are fewer than `size`, else the least busy. */
  const pick = (): Thread => {
    const idle = threads.find((t) => t.jobs.size === 0)
    if (idle) return idle
    if (threads.length < size) return spawn()
    return threads.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a))
  }

  const run = (job: Omit<Job, 'id' | 'rounds'>) =>
    new Promise<string | boolean>((resolve, reject) => {
      if (closed) return reject(new Error('password pool is closed'))
      if (idleTimer) {
        clearTimeout(idleTimer)
        idleTimer = null
      }
      const id = nextId++
      pending.set(id, { resolve, reject })
      const t = pick()
      t.jobs.add(id)
      t.worker.ref()
      t.worker.postMessage({ ...job, id, rounds })
    })

  return {
    rounds,
    get threads() {
      return threads.length
    },
    hash: async (password) => (await run({ op: 'hash', password })) as string,
    verify: async (password, hash) => {
      try {
        return (await run({ op: 'verify', password, hash })) as boolean
      } catch {
        return false
      }
    },
    async close() {
      closed = true
      if (idleTimer) clearTimeout(idleTimer)
      idleTimer = null
      await Promise.all(threads.splice(0).map((t) => t.worker.terminate()))
    },
  }
}
