import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { PasswordHasher } from '../../crypto/password'
import { fromRoot } from './project-root'

type Job = { id: number; op: 'hash' | 'verify'; password: string; hash?: string; rounds: number }
type Pending = { resolve: (v: string | boolean) => void; reject: (e: Error) => void }

/**
 * bcrypt at cost 12 is ~300 ms of CPU; done on the main thread a burst of logins
 * would stall every other request. Jobs go round-robin to a few worker threads.
 */
export function createPasswordPool(rounds: number, size = Math.max(1, Math.min(4, availableParallelism() - 1))): PasswordHasher {
  const pending = new Map<number, Pending>()
  let nextId = 0
  let turn = 0
  const workers = Array.from({ length: size }, () => {
    const w = new Worker(fromRoot('src/runtime/node/password-worker.mjs'))
    w.on('message', ({ id, result, error }: { id: number; result?: string | boolean; error?: string }) => {
      const p = pending.get(id)
      pending.delete(id)
      if (!p) return
      if (error !== undefined) p.reject(new Error(error))
      else p.resolve(result!)
    })
    w.unref()
    return w
  })

  const run = (job: Omit<Job, 'id' | 'rounds'>) =>
    new Promise<string | boolean>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      workers[turn++ % workers.length]!.postMessage({ ...job, id, rounds })
    })

  return {
    rounds,
    hash: async (password) => (await run({ op: 'hash', password })) as string,
    verify: async (password, hash) => {
      try {
        return (await run({ op: 'verify', password, hash })) as boolean
      } catch {
        return false
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
}
