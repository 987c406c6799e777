// The metrics port on Node: prom-client, one registry per gateway instance (tests run many in one
// process), with prom-client's default process metrics and event-loop lag under the `zenzefi_` prefix.
// Exposed on METRICS_ADDR by its own listener, and on the main port at /metrics with METRICS_TOKEN (server.ts).

import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client'
import type { Config } from '../../config'
import type { Logger } from '../../logger'
import type { Family, HistogramDef, MetricDef, Metrics, Counter as PortCounter, Gauge as PortGauge, Histogram as PortHistogram } from '../../metrics/interface'
import { noopMetrics } from '../../metrics/interface'

export interface NodeMetrics extends Metrics {
  readonly registry: Registry
  /** The Prometheus text exposition of every series. */
  scrape(): Promise<string>
  readonly contentType: string
}

/**
 * A family whose series are bound by `labels(...)`; `init` runs once per bound series so that it is
 * exported (at 0) from the start: the set of series is fixed when the gateway starts, not by traffic.
 */
function family<T>(metric: { labels(...values: string[]): T }, plain: T, labelCount: number, init: (series: T, values: string[]) => void): Family<T> {
  return {
    labels: (...values) => {
      const series = labelCount === 0 ? plain : metric.labels(...values)
      init(series, values)
      return series
    },
  }
}

/** A counter series between scrapes: what it was increased by since the last one. */
class PendingCounter implements PortCounter {
  pending = 0
  inc(value = 1) {
    // prom-client's own rule, kept at the call site where the mistake is.
    if (!(value >= 0)) throw new Error('It is not possible to decrease a counter')
    this.pending += value
  }
}

/** A histogram series between scrapes: observations per bucket (the last: above every bound), their sum. */
class LocalHistogram implements PortHistogram {
  readonly counts: Float64Array
  sum = 0
  constructor(private readonly bounds: number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }
  observe(value: number) {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
    const b = this.bounds
    let i = 0
    while (i < b.length && value > b[i]!) i++
    this.counts[i]!++
    this.sum += value
  }
}

/**
 * The metric object the registry reads (its `get()`, as for its own metrics): cumulative `_bucket`
 * series with `le`, then `_sum` and `_count`, summed across workers by the cluster aggregate.
 */
function histogramMetric(def: HistogramDef, bounds: number[], series: Array<{ labels: Record<string, string>; h: LocalHistogram }>) {
  const meta = { name: def.name, help: def.help, type: 'histogram', aggregator: 'sum' } as const
  const get = () => {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = []
    for (const { labels, h } of series) {
      let acc = 0
      bounds.forEach((le, i) => {
        acc += h.counts[i]!
        values.push({ labels: { ...labels, le }, value: acc, metricName: `${def.name}_bucket` })
      })
      const count = acc + h.counts[bounds.length]!
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${def.name}_bucket` })
      values.push({ labels, value: h.sum, metricName: `${def.name}_sum` })
      values.push({ labels, value: count, metricName: `${def.name}_count` })
    }
    return { ...meta, values }
  }
  // reset(): what the registry's resetMetrics() calls on each of its metrics.
  const reset = () => {
    for (const { h } of series) {
      h.counts.fill(0)
      h.sum = 0
    }
  }
  return { ...meta, get: async () => get(), reset }
}

export function createNodeMetrics(): NodeMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'zenzefi_', eventLoopMonitoringPrecision: 10 })
  const common = (def: MetricDef) => ({ name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] })
  const labelObject = (def: MetricDef, values: string[]) => Object.fromEntries(def.labels.map((l, i) => [l, values[i] ?? '']))
  return {
    registry,
    contentType: registry.contentType,
    scrape: () => registry.metrics(),
    counter(def): Family<PortCounter> {
      // Counted in plain numbers on the request path and handed to prom-client when it collects
      // (its documented collect hook, called on every scrape): an inc() through prom-client
      // hashes the label values on every call.
      const bound: Array<{ child: PortCounter; series: PendingCounter }> = []
      const c = new Counter({
        ...common(def),
        collect() {
          for (const b of bound) {
            if (b.series.pending === 0) continue
            b.child.inc(b.series.pending)
            b.series.pending = 0
          }
        },
      })
      const families = family<PortCounter>(c, c, def.labels.length, (child) => child.inc(0))
      return {
        labels: (...values) => {
          const series = new PendingCounter()
          bound.push({ child: families.labels(...values), series })
          return series
        },
      }
    },
    histogram(def: HistogramDef): Family<PortHistogram> {
      // Kept in plain arrays and read by the registry as a metric object of its own: prom-client's
      // observe() hashes the label values on every call (~0.6 µs a proxied request).
      const series: Array<{ labels: Record<string, string>; h: LocalHistogram }> = []
      const bounds = [...def.buckets].sort((a, b) => a - b)
      registry.registerMetric(histogramMetric(def, bounds, series) as unknown as Metric)
      return {
        labels: (...values) => {
          const h = new LocalHistogram(bounds)
          series.push({ labels: labelObject(def, values), h })
          return h
        },
      }
    },
    gauge(def): Family<PortGauge> {
      // Not zeroed: a gauge at 0 says something (dependency_up 0 = down); it appears once first set.
      const g = new Gauge(common(def))
      return family<PortGauge>(g, g, def.labels.length, () => {})
    },
  }
}

/** prom-client when the metrics can be read (METRICS_ADDR or METRICS_TOKEN), else the no-op: nothing is counted that no one can read. */
export function nodeMetricsFor(config: Pick<Config, 'metricsAddr' | 'metricsToken'>): Metrics {
  return config.metricsAddr || config.metricsToken ? createNodeMetrics() : noopMetrics
}

/** The scrape function of prom-client metrics, or null for the no-op. */
export function scraperOf(metrics: Metrics | undefined): NodeMetrics | null {
  return metrics && 'scrape' in metrics ? (metrics as NodeMetrics) : null
}

const digest = (s: string) => createHash('sha256').update(s).digest()

/** `Authorization: Bearer <token>` against METRICS_TOKEN, in constant time (both sides hashed to 32 bytes first). */
export function metricsTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const want = digest(token)
  return (authorization) => {
    if (authorization === undefined || !authorization.startsWith('Bearer ')) return false
    return timingSafeEqual(digest(authorization.slice(7).trim()), want)
  }
}

export interface MetricsListener {
  /** Where it listens, or null if it could not (the port was taken). */
  address(): { host: string; port: number } | null
  close(): Promise<void>
}

/**
 * The METRICS_ADDR listener: GET /metrics (and /) answer the exposition; anything else 404.
 * A taken port (or any listen error) is a warning: the gateway keeps serving without it.
 */
export function startMetricsListener(
  addr: { host: string; port: number },
  metrics: Pick<NodeMetrics, 'scrape' | 'contentType'>,
  log: Logger,
): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n')
      return
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err) => {
        log.error('metrics scrape failed', { error: err })
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n')
      },
    )
  })
  let listening = false
  const handle: MetricsListener = {
    address() {
      if (!listening) return null
      const a = server.address() as { address: string; port: number }
      return { host: a.address, port: a.port }
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!listening) return resolve()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      log.warn(err.code === 'EADDRINUSE' ? 'METRICS_ADDR is already in use; serving without the metrics listener' : 'metrics listener failed', {
        metrics_addr: `${addr.host}:${addr.port}`,
        code: err.code,
        error: err.message,
      })
      resolve(handle)
    })
    server.listen(addr.port, addr.host, () => {
      listening = true
      server.on('error', (err) => log.error('metrics listener error', { error: err }))
      log.info('metrics listening', {
        url: `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${(server.address() as { port: number }).port}/metrics`,
      })
      resolve(handle)
    })
  })
}
