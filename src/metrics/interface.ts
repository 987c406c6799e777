// The metrics port: counters, histograms and gauges by fixed name with a small fixed label set.
// Platform-free. Node implements it with prom-client (src/runtime/node/metrics.ts); Workers and tests
// get the no-op. Label values are always bounded (route templates, classes, enums): never a user, token or path.

export interface Counter {
  inc(value?: number): void
}
export interface Histogram {
  /** In base units (seconds, bytes). */
  observe(value: number): void
}
export interface Gauge {
  inc(value?: number): void
  dec(value?: number): void
  set(value: number): void
}

export interface MetricDef<L extends string = string> {
  /** `zenzefi_…`, in base units. */
  name: string
  help: string
  labels: readonly L[]
}
export interface HistogramDef<L extends string = string> extends MetricDef<L> {
  buckets: readonly number[]
}

/** A metric family; `labels(...)` returns the series for these label values (in `def.labels` order). Bind once and keep it. */
export interface Family<T> {
  labels(...values: string[]): T
}

export interface Metrics {
  counter(def: MetricDef): Family<Counter>
  histogram(def: HistogramDef): Family<Histogram>
  gauge(def: MetricDef): Family<Gauge>
}

const noopSeries: Counter & Histogram & Gauge = { inc() {}, dec() {}, set() {}, observe() {} }
const noopFamily: Family<Counter & Histogram & Gauge> = { labels: () => noopSeries }

/** The default, and the one Workers use: every call does nothing. */
export const noopMetrics: Metrics = {
  counter: () => noopFamily,
  histogram: () => noopFamily,
  gauge: () => noopFamily,
}
