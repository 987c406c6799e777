// Child processes for benches that measure servers: start them, read their CPU time and
// memory from /proc, and make sure every one of them (and every temp dir) is gone at exit,
// whatever way the bench ends.
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (bench/lib/../..). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

/** Gone or a zombie (nobody reaps it while the process is exiting). */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z'
  } catch {
    return true
  }
}

/** Synchronous (it runs in an 'exit' handler): SIGKILL every child, wait for them to die, then remove the temp dirs. */
function killAllNow() {
  const pids: number[] = []
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL')
        pids.push(child.pid)
      } catch {
        // already gone
      }
    }
  }
  children.clear()
  // A child still writing into a temp dir would make its removal fail.
  const nap = new Int32Array(new SharedArrayBuffer(4))
  for (let i = 0; i < 100 && !pids.every(exited); i++) Atomics.wait(nap, 0, 0, 20)
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
    } catch (err) {
      console.error(`bench: could not remove ${dir}: ${(err as Error).message}`)
    }
  }
  tempDirs.clear()
}

let hooked = false
/** Last line of defence: 'exit' runs synchronously on every exit path, signals are turned into exits. */
function hookExit() {
  if (hooked) return
  hooked = true
  process.on('exit', killAllNow)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, stopping children`)
      process.exit(130)
    })
  }
}

export function tempDir(prefix: string): string {
  hookExit()
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string) {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
  tempDirs.delete(dir)
}

function track(child: ChildProcess): ChildProcess {
  hookExit()
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/**
 * Stops one child: SIGTERM (so a `--cpu-prof` child writes its profile), SIGKILL after `graceMs`.
 */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return void children.delete(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
  children.delete(child)
}

export interface TsChild<Msg extends { kind: string } = { kind: string }> {
  child: ChildProcess
  pid: number
  /** Sends a message and resolves with the child's reply carrying the same `id`. */
  request<T>(message: Msg, timeoutMs?: number): Promise<T>
}

/**
 * Forks `node --import tsx <script>` with an IPC channel; resolves once the child sends
 * `{ ready: true, ...info }`. Its stdout/stderr go to the bench's stderr (they should be quiet).
 */
export async function forkTs<Info extends object, Msg extends { kind: string } = { kind: string }>(
  script: string,
  opts: { env?: Record<string, string | undefined>; execArgv?: string[]; readyTimeoutMs?: number } = {},
): Promise<TsChild<Msg> & { info: Info }> {
  const child = track(
    fork(join(REPO_ROOT, script), [], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
  const info = await new Promise<Info>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not report ready within ${opts.readyTimeoutMs ?? 30_000} ms`)),
      opts.readyTimeoutMs ?? 30_000,
    )
    const onExit = (code: number | null) => reject(new Error(`${script} exited (${code}) before it was ready`))
    child.once('exit', onExit)
    child.on('message', function onReady(msg: { ready?: boolean }) {
      if (!msg?.ready) return
      clearTimeout(timer)
      child.off('message', onReady)
      child.off('exit', onExit)
      resolve(msg as unknown as Info)
    })
  })
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  child.on('message', (msg: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
    if (typeof msg?.id !== 'number') return
    const p = pending.get(msg.id)
    if (!p) return
    pending.delete(msg.id)
    if (msg.ok) p.resolve(msg.result)
    else p.reject(new Error(`${script}: ${msg.error}`))
  })
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`${script} exited (${code}) during a request`))
    pending.clear()
  })
  return {
    child,
    pid: child.pid!,
    info,
    request<T>(message: Msg, timeoutMs = 300_000): Promise<T> {
      const id = nextId++
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${script}: no answer to ${String(message.kind)} within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer)
            resolve(v as T)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        child.send({ ...message, id })
      })
    },
  }
}

/**
 * Spawns a long-running command with stdout+stderr sent to a file descriptor, or with stdoutFd 'pipe' to pipes
 * this process reads and drops, as a container's log driver reads them (never an undrained pipe).
 */
export function spawnTracked(command: string, args: string[], opts: { env: NodeJS.ProcessEnv; stdoutFd: number | 'pipe'; cwd?: string }): ChildProcess {
  const child = track(spawn(command, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env, stdio: ['ignore', opts.stdoutFd, opts.stdoutFd] }))
  child.stdout?.resume()
  child.stderr?.resume()
  return child
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

// ── /proc readers ──

let clockTicks = 0
function ticksPerSecond(): number {
  if (!clockTicks) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** utime + stime of a process (all its threads), in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / ticksPerSecond()
}

/** Resident set size in MB (MiB), from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status)
  return m ? Number(m[1]) / 1024 : Number.NaN
}

/** Samples VmRSS every `everyMs` until stopped; returns the first sample and the peak. */
export function sampleRss(pid: number, everyMs = 50) {
  const start = rssMb(pid)
  let peak = start
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid))
    } catch {
      // process gone: the caller will notice
    }
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      try {
        peak = Math.max(peak, rssMb(pid))
      } catch {
        // gone
      }
      return { startMb: start, peakMb: peak, growthMb: peak - start }
    },
  }
}

/** The whole machine's busy and total CPU time (all cores) from /proc/stat, in ms. */
function machineCpu(): { busyMs: number; totalMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[]
  const busy = user! + nice! + system! + irq! + softirq! + steal!
  const toMs = (ticks: number) => (ticks * 1000) / ticksPerSecond()
  return { busyMs: toMs(busy), totalMs: toMs(busy + idle! + iowait!) }
}

/**
 * How much of the machine processes other than `pids` used between start() and stop(): on a
 * shared machine, a phase with a high figure here was measured on a disturbed machine.
 */
export function foreignLoad(pids: () => number[]) {
  const ours = () => pids().reduce((sum, pid) => sum + (tryCpuMs(pid) ?? 0), 0)
  const m0 = machineCpu()
  const o0 = ours()
  return {
    /** percent of all cores used by other processes */
    stop(): number {
      const m1 = machineCpu()
      const foreign = m1.busyMs - m0.busyMs - (ours() - o0)
      return Math.max(0, (foreign / (m1.totalMs - m0.totalMs)) * 100)
    },
  }
}

function tryCpuMs(pid: number): number | null {
  try {
    return cpuMs(pid)
  } catch {
    return null
  }
}

// ── a throwaway CA and a server certificate for 127.0.0.1, as test/support/test-ca.ts makes them ──

export interface BenchCa {
  caFile: string
  keyFile: string
  certFile: string
}

export function makeCa(dir: string): BenchCa {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Zenzefi Bench CA')
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n')
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf')
  return { caFile: join(dir, 'ca.pem'), keyFile: join(dir, 'server.key'), certFile: join(dir, 'server.pem') }
}
