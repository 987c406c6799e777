import { createApp } from '../../app'
import { type Config, ConfigError } from '../../config'
import { isPrimaryProcess, isWorkerProcess, joinCluster, runPrimary } from './cluster'
import { buildNodeDeps, nodeConfig } from './deps'
import { type MetricsListener, scraperOf, startMetricsListener } from './metrics'
import { startReconciler } from './payments-reconciler'
import { createNodeServer } from './server'
import { startSessionSweeper } from './session-sweeper'
import { stdoutLogger } from './stdout-log'

const log = stdoutLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'info')

/** Ends the process once the log lines of this turn are out (stdout-log writes whatever is left at exit). */
const exit = (code: number) => setImmediate(() => process.exit(code))

/** What SIGTERM and SIGINT do; set once the server exists. Before that a signal just ends the process. */
let onSignal: ((signal: NodeJS.Signals) => void) | null = null
let signalled = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    // A second signal (an impatient orchestrator, a second Ctrl-C) must not kill the shutdown under way.
    if (signalled) return void log.warn('already shutting down', { signal })
    signalled = true
    if (onSignal) return onSignal(signal)
    log.info('stopped before the server started', { signal })
    exit(0)
  })
}

async function start() {
  const config = await nodeConfig(process.env, log)
  if (isPrimaryProcess() && config.workers > 1) onSignal = runPrimary(config, log, exit)
  else await main(config)
}

async function main(config: Config) {
  const deps = await buildNodeDeps(config, log)
  const app = createApp(deps)
  const server = createNodeServer(deps, app)
  const reconciler = startReconciler({
    database: deps.database,
    payments: app.services.payments,
    seconds: config.paymentsReconcileSeconds,
    log,
    audit: app.services.audit,
    auditRetentionDays: config.auditRetentionDays,
  })
  const sweeper = startSessionSweeper({
    database: deps.database,
    service: app.services.sessions,
    devices: app.gateway.devices,
    flushSeconds: config.sessionFlushSeconds,
    idleSeconds: config.sessionIdleSeconds,
    log,
    prune: () => Promise.all([app.services.accountSessions.prune(), app.services.launchCodes.prune()]),
  })
  // METRICS_ADDR: its own listener (a taken port is a warning; the gateway serves on without it).
  const scraper = scraperOf(deps.metrics)
  // In a worker of WORKERS=N the primary serves METRICS_ADDR, summing every worker's registry.
  const worker = isWorkerProcess()
  if (worker) joinCluster(scraper?.registry ?? null)
  const metricsListener: Promise<MetricsListener | null> =
    config.metricsAddr && scraper && !worker ? startMetricsListener(config.metricsAddr, scraper, log) : Promise.resolve(null)
  server.on('error', (err) => {
    log.error('server error', { error: err })
    exit(1)
  })
  onSignal = (signal) => {
    const { shutdownDrainSeconds: drain, shutdownTimeoutSeconds: timeout } = config
    log.info('shutting down', { signal, drain_seconds: drain, timeout_seconds: timeout })
    // Backstop: should closing the database or Redis hang, the process still ends (and before compose's 35 s SIGKILL).
    setTimeout(
      () => {
        log.error('shutdown did not complete; exiting anyway')
        exit(0)
      },
      (drain + timeout + 5) * 1000,
    ).unref()
    server.shutdown(() => {
      metricsListener
        .then((listener) => listener?.close())
        .then(() => reconciler.stop())
        // Every connection is gone by now: the last counts are final.
        .then(() => sweeper.stop())
        .then(() => deps.close())
        .catch((err) => log.error('closing the database or cache failed', { error: err }))
        .finally(() => {
          log.info('stopped', { signal })
          exit(0)
        })
    })
  }
  server.listen(config.port, config.host, () => {
    const info = server.address() as { address: string; port: number }
    log.info('listening', {
      url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}`,
      database: deps.database.kind,
      cache: deps.cache.kind,
      pid: process.pid,
      zenzefi: config.zenzefiTargetUrl,
    })
  })
}

start().catch((err) => {
  log.error(err instanceof ConfigError ? `configuration error: ${err.message}` : 'failed to start', { error: err })
  exit(1)
})
