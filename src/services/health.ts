import type { GatewayMetrics } from '../metrics/gateway'
import type { Clock } from './clock'

export interface Probe {
  /** Shown in the report; credentials already removed. */
  url: string
  run(): Promise<void>
}

export interface CheckResult {
  status: 'up' | 'down'
  latency_ms: number
  error: string | null
  url: string
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy'

/** GET /health/ready: 200 ready, or 503 draining from the moment shutdown begins. */
export interface Readiness {
  status: 'ready' | 'draining'
}

export interface HealthReport {
  status: HealthStatus
  timestamp: string
  checks: { database: CheckResult; redis: CheckResult; zenzefi: CheckResult }
  overall: { healthy_count: number; total_count: number }
}

/** Drops user and password from a URL before it is shown. */
export function publicUrl(raw: string): string {
  try {
    const u = new URL(raw)
    u.username = ''
    u.password = ''
    u.search = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return 'unparseable url'
  }
}

export function createHealth(deps: {
  probes: { database: Probe; redis: Probe; zenzefi: Probe }
  clock: Clock
  timeoutMs?: number
  /** How long /health may answer from the last report. */
  summaryTtlMs?: number
  /** zenzefi_dependency_up, set by each round of checks. */
  metrics?: Pick<GatewayMetrics, 'dependencyUp'>
}) {
  const timeoutMs = deps.timeoutMs ?? 5_000
  const summaryTtlMs = deps.summaryTtlMs ?? 10_000
  let inFlight: Promise<HealthReport> | null = null
  let last: { at: number; report: HealthReport } | null = null

  const check = async (probe: Probe): Promise<CheckResult> => {
    const started = performance.now()
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        probe.run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
      return { status: 'up', latency_ms: round(performance.now() - started), error: null, url: probe.url }
    } catch (err) {
      return { status: 'down', latency_ms: round(performance.now() - started), error: describe(err), url: probe.url }
    } finally {
      clearTimeout(timer)
    }
  }

  const run = async (): Promise<HealthReport> => {
    const [database, redis, zenzefi] = await Promise.all([check(deps.probes.database), check(deps.probes.redis), check(deps.probes.zenzefi)])
    const checks = { database, redis, zenzefi }
    const gauges = deps.metrics?.dependencyUp
    if (gauges) for (const name of ['database', 'redis', 'zenzefi'] as const) gauges[name].set(checks[name].status === 'up' ? 1 : 0)
    const up = Object.values(checks).filter((c) => c.status === 'up').length
    // Without the database or the cache nobody gets in; without Zenzefi the accounts side still works.
    const status: HealthStatus = database.status === 'down' || redis.status === 'down' ? 'unhealthy' : zenzefi.status === 'down' ? 'degraded' : 'healthy'
    const report = { status, timestamp: deps.clock.now().toISOString(), checks, overall: { healthy_count: up, total_count: 3 } }
    last = { at: Date.now(), report }
    return report
  }

  /** Concurrent callers share one round of checks. */
  const detailed = () => (inFlight ??= run().finally(() => (inFlight = null)))
  let draining = false

  return {
    detailed,
    /** Readiness for a load balancer: no checks, only whether this instance has started shutting down. */
    readiness: (): Readiness => ({ status: draining ? 'draining' : 'ready' }),
    /** From now on readiness() says draining (graceful shutdown has begun); there is no way back. */
    startDraining() {
      draining = true
    },
    async summary(): Promise<{ status: HealthStatus; timestamp: string }> {
      const report = last && Date.now() - last.at < summaryTtlMs ? last.report : await detailed()
      return { status: report.status, timestamp: report.timestamp }
    },
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } }
  const code = e?.cause?.code ?? e?.code
  const msg = e?.cause?.message ?? e?.message ?? String(err)
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg
}

export type Health = ReturnType<typeof createHealth>
