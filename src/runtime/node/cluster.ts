// WORKERS=N: N server processes on one port (node:cluster hands each new connection to one of
// them in turn). They share what separate instances already share: PostgreSQL, and through
// Redis the revocations, limits and sessions. The primary serves nothing itself: it starts the
// workers, replaces one that dies, passes SIGTERM to each (each drains on its own, as one
// process would) and exits 0 once all have stopped. With METRICS_ADDR it serves the sum of every
// worker's metrics (prom-client's AggregatorRegistry); the workers then open no listener of their own.

import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'
import type { Config } from '../../config'
import type { Logger } from '../../logger'
import { type MetricsListener, startMetricsListener } from './metrics'

/** Starts the workers; returns what SIGTERM and SIGINT do in the primary. */
export function runPrimary(config: Config, log: Logger, exit: (code: number) => void): (signal: NodeJS.Signals) => void {
  const { workers: count } = config
  // Workers read the same environment; the development SECRET_KEY the primary resolved is handed to them,
  // so that no two processes create DATA_DIR/secret_key at once.
  const env = { SECRET_KEY: config.secretKey }
  // Workers alive, and whether each has started listening: one that dies before it does is not replaced,
  // it would only die again (a bad setting, a failed migration).
  const started = new Map<Worker, boolean>()
  let stopping = false
  let exitCode = 0

  const metrics: Promise<MetricsListener | null> = config.metricsAddr
    ? (() => {
        const aggregate = new AggregatorRegistry()
        return startMetricsListener(config.metricsAddr, { scrape: () => aggregate.clusterMetrics(), contentType: aggregate.contentType }, log)
      })()
    : Promise.resolve(null)

  const stopAll = () => {
    stopping = true
    for (const w of started.keys()) w.process.kill('SIGTERM')
    // Backstop: a worker that hangs past its own deadline is ended, and the primary still exits.
    setTimeout(
      () => {
        for (const w of started.keys()) w.process.kill('SIGKILL')
        exit(exitCode)
      },
      (config.shutdownDrainSeconds + config.shutdownTimeoutSeconds + 10) * 1000,
    ).unref()
  }

  const fork = () => started.set(cluster.fork(env), false)
  cluster.on('listening', (worker) => started.set(worker, true))
  cluster.on('exit', (worker, code, signal) => {
    const listened = started.get(worker) ?? false
    started.delete(worker)
    if (!stopping && !listened) {
      log.error('a worker stopped at start; stopping the others', { pid: worker.process.pid, code, signal })
      exitCode = code || 1
      stopAll()
    } else if (!stopping) {
      log.error('a worker died; starting another', { pid: worker.process.pid, code, signal })
      fork()
    }
    if (stopping && started.size === 0) {
      log.info('stopped', { workers: count })
      void metrics.then((l) => l?.close()).finally(() => exit(exitCode))
    }
  })
  for (let i = 0; i < count; i++) fork()
  log.info('cluster started', { workers: count, pid: process.pid })

  return (signal) => {
    log.info('shutting down', { signal, workers: started.size })
    // Each worker drains on its own (a terminal's Ctrl-C reaches them too; a second SIGTERM changes nothing).
    stopAll()
  }
}

/** In a worker: its registry is what the primary's aggregate collects. A worker whose primary is gone stops. */
export function joinCluster(registry: Registry | null): void {
  if (registry) {
    // Constructing one is what makes prom-client answer the primary's requests in this process.
    new AggregatorRegistry()
    AggregatorRegistry.setRegistries([registry])
  }
  process.on('disconnect', () => process.exit(1))
}

export const isWorkerProcess = () => cluster.isWorker
export const isPrimaryProcess = () => cluster.isPrimary
