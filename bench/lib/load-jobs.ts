// What bench/proxy.ts asks its load-generator child (bench/lib/load-client.ts) to do, and what comes back.
// All latencies are milliseconds with sub-millisecond resolution (not autocannon's whole-ms histogram).

export interface LatencySummary {
  n: number
  p50: number
  p99: number
  mean: number
  max: number
}

/** Closed loop: `connections` keep-alive connections, each one request in flight (autocannon). */
export interface HttpLoadJob {
  kind: 'http'
  url: string
  connections: number
  seconds: number
  headers: Record<string, string>
  /** autocannon `overallRate`: a fixed total request rate. */
  overallRate?: number
  /**
   * autocannon `amount`: stop after this many requests instead of after `seconds`. Such a run ends
   * with no request in flight, so a proxy's upstream connections are not torn down by the end of it.
   */
  amount?: number
  /** Responses completing in the first `settleSeconds` are left out of req/s and latency (connection set-up). */
  settleSeconds?: number
}
export interface HttpLoadResult {
  /** every response of the run (for CPU per request) */
  total: number
  /** 2xx responses per second in the steady window */
  perSec: number
  latency: LatencySummary
  bytes: number
  non2xx: number
  errors: number
  timeouts: number
  windowSeconds: number
}

/**
 * Open loop: one request every 1000/rate ms on a keep-alive node:http(s) agent (connections opened
 * beforehand, at most 32), latency from send to last byte.
 */
export interface PacedJob {
  kind: 'paced'
  url: string
  rate: number
  seconds: number
  /** paced but not recorded, right before the measured seconds */
  warmupSeconds?: number
  headers: Record<string, string>
  caFile?: string
}
export interface PacedResult {
  sent: number
  ok: number
  failed: number
  perSec: number
  latency: LatencySummary
}

/** `concurrency` closed loops of node:http(s) GETs of one URL, bodies counted and dropped. */
export interface DownloadLoopJob {
  kind: 'downloads'
  url: string
  concurrency: number
  seconds: number
  headers: Record<string, string>
  caFile?: string
}
export interface DownloadLoopResult {
  responses: number
  failed: number
  bodyBytes: number
  seconds: number
  latency: LatencySummary
}

/** One client, one message at a time: send, wait for the echo, repeat. */
export interface WsPingJob {
  kind: 'ws-ping'
  url: string
  warmup: number
  count: number
  payloadBytes: number
  caFile?: string
}
export interface WsPingResult {
  latency: LatencySummary
}

/** `clients` connections each doing closed-loop echo for `seconds`. */
export interface WsLoadJob {
  kind: 'ws-load'
  url: string
  clients: number
  seconds: number
  payloadBytes: number
  caFile?: string
}
export interface WsLoadResult {
  messages: number
  perSec: number
  seconds: number
  closedEarly: number
}

export type LoadJob = HttpLoadJob | PacedJob | DownloadLoopJob | WsPingJob | WsLoadJob
