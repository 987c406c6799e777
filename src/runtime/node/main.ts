import { createApp } from '../../app'
import { ConfigError } from '../../config'
import { buildNodeDeps, nodeConfig } from './deps'
import { createNodeServer } from './server'
import { stdoutLogger } from './stdout-log'

const log = stdoutLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'info')

async function main() {
  const config = await nodeConfig(process.env, log)
  const deps = await buildNodeDeps(config, log)
  const server = createNodeServer(deps, createApp(deps))
  server.listen(config.port, config.host, () => {
    const info = server.address() as { address: string; port: number }
    log.info('listening', {
      url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}`,
      database: deps.database.kind,
      cache: deps.cache.kind,
      zenzefi: config.zenzefiTargetUrl,
    })
  })
  const stop = (signal: string) => {
    log.info('shutting down', { signal })
    server.shutdown(() => void deps.close().finally(() => process.exit(0)))
    setTimeout(() => process.exit(0), 10_000).unref()
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
}

main().catch((err) => {
  log.error(err instanceof ConfigError ? `configuration error: ${err.message}` : 'failed to start', { error: err })
  process.exit(1)
})
