// Child process for bench/proxy.ts: the load generator, on its own event loop so that it
// never shares one with a process being measured. Takes LoadJobs over IPC, answers
// { id, ok, result | error }. HTTP load is autocannon; the rest is node:http(s) and ws.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import autocannon from 'autocannon'
import { WebSocket } from 'ws'
import type {
  DownloadLoopJob,
  DownloadLoopResult,
  HttpLoadJob,
  HttpLoadResult,
  LatencySummary,
  LoadJob,
  PacedJob,
  PacedResult,
  WsLoadJob,
  WsLoadResult,
  WsPingJob,
  WsPingResult,
} from './load-jobs'

/** A growable sample buffer (ms). */
class Samples {
  private buf = new Float64Array(1 << 14)
  length = 0
  push(v: number) {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.length++] = v
  }
  summary(): LatencySummary {
    const s = this.buf.slice(0, this.length).sort()
    const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : Number.NaN)
    let sum = 0
    for (const v of s) sum += v
    return { n: s.length, p50: at(50), p99: at(99), mean: s.length ? sum / s.length : Number.NaN, max: s.length ? s[s.length - 1]! : Number.NaN }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function httpLoad(job: HttpLoadJob): Promise<HttpLoadResult> {
  const settleMs = (job.settleSeconds ?? 0) * 1000
  const latencies = new Samples()
  let steady = 0
  let steadyBytes = 0
  let total = 0
  let t0 = 0
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: job.seconds,
        pipelining: 1,
        timeout: 30,
        headers: job.headers,
        ...(job.overallRate ? { overallRate: job.overallRate } : {}),
        ...(job.amount ? { amount: job.amount } : {}),
      },
      (err, result) => {
        if (err) return reject(err)
        const windowSeconds = (performance.now() - t0 - settleMs) / 1000
        resolve({
          total,
          perSec: steady / windowSeconds,
          latency: latencies.summary(),
          bytes: steadyBytes,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          windowSeconds,
        })
      },
    )
    t0 = performance.now()
    // autocannon's own histogram keeps whole milliseconds; its per-response event has the exact time.
    instance.on('response', (_client: unknown, statusCode: number, resBytes: number, responseTime: number) => {
      total++
      if (statusCode < 200 || statusCode > 299) return
      if (performance.now() - t0 < settleMs) return
      steady++
      steadyBytes += resBytes
      latencies.push(responseTime)
    })
  })
}

/**
 * Keep-alive, and 'fifo' so that every pooled connection keeps being used: with 'lifo' a few would
 * sit idle past the server's keep-alive timeout (5 s on Node) and a request could race its close.
 */
function agentFor(url: URL, caFile: string | undefined, maxSockets: number): http.Agent {
  const common = { keepAlive: true, maxSockets, scheduling: 'fifo' as const }
  return url.protocol === 'https:' ? new https.Agent({ ...common, ca: caFile ? readFileSync(caFile) : undefined }) : new http.Agent(common)
}

/** One GET: resolves with [status, body bytes] once the body has been read (and dropped). */
function get(url: URL, agent: http.Agent, headers: Record<string, string>): Promise<[number, number]> {
  const mod = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { agent, headers }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => (bytes += c.length))
      res.on('end', () => resolve([res.statusCode ?? 0, bytes]))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

/** At most this many connections: past it requests wait in the agent (and that wait is in their latency). */
const PACED_SOCKETS = 32

async function paced(job: PacedJob): Promise<PacedResult> {
  const url = new URL(job.url)
  const agent = agentFor(url, job.caFile, PACED_SOCKETS)
  // Open the connections first: an open loop that had to open (TLS) connections under way would measure handshakes.
  await Promise.all(Array.from({ length: PACED_SOCKETS }, () => get(url, agent, job.headers)))
  const inFlight = new Set<Promise<void>>()
  const run = async (seconds: number, record: boolean) => {
    const latencies = new Samples()
    const intervalMs = 1000 / job.rate
    const endMs = seconds * 1000
    let sent = 0
    let ok = 0
    let failed = 0
    const fire = () => {
      const started = performance.now()
      const p = get(url, agent, job.headers).then(
        ([status]) => {
          if (status >= 200 && status < 300) {
            ok++
            latencies.push(performance.now() - started)
          } else failed++
        },
        () => void failed++,
      )
      inFlight.add(p)
      void p.finally(() => inFlight.delete(p))
    }
    const t0 = performance.now()
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now() - t0
        const due = Math.min(Math.floor(now / intervalMs) + 1, Math.floor(endMs / intervalMs))
        while (sent < due) {
          fire()
          sent++
        }
        if (now >= endMs) {
          clearInterval(timer)
          resolve()
        }
      }, 1)
    })
    const elapsed = (performance.now() - t0) / 1000
    await Promise.race([Promise.allSettled([...inFlight]), sleep(10_000)])
    return record ? { sent, ok, failed, perSec: ok / elapsed, latency: latencies.summary() } : null
  }
  try {
    if (job.warmupSeconds) await run(job.warmupSeconds, false)
    return (await run(job.seconds, true))!
  } finally {
    agent.destroy()
  }
}

async function downloads(job: DownloadLoopJob): Promise<DownloadLoopResult> {
  const url = new URL(job.url)
  const agent = agentFor(url, job.caFile, job.concurrency)
  const latencies = new Samples()
  let responses = 0
  let failed = 0
  let bodyBytes = 0
  const t0 = performance.now()
  const endAt = t0 + job.seconds * 1000
  const loop = async () => {
    while (performance.now() < endAt) {
      const started = performance.now()
      try {
        const [status, bytes] = await get(url, agent, job.headers)
        if (status === 200) {
          responses++
          bodyBytes += bytes
          latencies.push(performance.now() - started)
        } else failed++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, loop))
  const seconds = (performance.now() - t0) / 1000
  agent.destroy()
  return { responses, failed, bodyBytes, seconds, latency: latencies.summary() }
}

function openWs(url: string, caFile: string | undefined): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ca: caFile ? readFileSync(caFile) : undefined })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket upgrade refused: ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

async function wsPing(job: WsPingJob): Promise<WsPingResult> {
  const ws = await openWs(job.url, job.caFile)
  const payload = 'p'.repeat(job.payloadBytes)
  const latencies = new Samples()
  let answer: (() => void) | null = null
  ws.on('message', () => answer?.())
  try {
    for (let i = 0; i < job.warmup + job.count; i++) {
      const started = performance.now()
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000)
        answer = () => {
          clearTimeout(timer)
          resolve()
        }
        ws.send(payload)
      })
      if (i >= job.warmup) latencies.push(performance.now() - started)
    }
  } finally {
    ws.terminate()
  }
  return { latency: latencies.summary() }
}

async function wsLoad(job: WsLoadJob): Promise<WsLoadResult> {
  const sockets = await Promise.all(Array.from({ length: job.clients }, () => openWs(job.url, job.caFile)))
  const payload = 'm'.repeat(job.payloadBytes)
  let messages = 0
  let closedEarly = 0
  let running = true
  for (const ws of sockets) {
    ws.on('message', () => {
      if (!running) return
      messages++
      ws.send(payload)
    })
    ws.on('close', () => {
      if (running) closedEarly++
    })
  }
  const t0 = performance.now()
  for (const ws of sockets) ws.send(payload)
  await sleep(job.seconds * 1000)
  running = false
  const seconds = (performance.now() - t0) / 1000
  for (const ws of sockets) ws.terminate()
  return { messages, perSec: messages / seconds, seconds, closedEarly }
}

function run(job: LoadJob): Promise<unknown> {
  switch (job.kind) {
    case 'http':
      return httpLoad(job)
    case 'paced':
      return paced(job)
    case 'downloads':
      return downloads(job)
    case 'ws-ping':
      return wsPing(job)
    case 'ws-load':
      return wsLoad(job)
  }
}

process.on('message', (msg: LoadJob & { id: number }) => {
  run(msg).then(
    (result) => process.send!({ id: msg.id, ok: true, result }),
    (err: Error) => process.send!({ id: msg.id, ok: false, error: err?.stack ?? String(err) }),
  )
})
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.send!({ ready: true })
