import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { AppDeps } from '../../app'
import type { TokenCache } from '../../cache/interface'
import { createRedisStore } from '../../cache/redis'
import { createTieredCache } from '../../cache/tiered'
import { type Config, type Env, loadConfig } from '../../config'
import { createTokenCipher } from '../../crypto/access-token'
import type { Database } from '../../db/client'
import { openMigratedDatabase } from '../../db/connect-node'
import { createRedisLimiter } from '../../limits/redis'
import { consoleLogger, type Logger } from '../../logger'
import { gatewayMetrics } from '../../metrics/gateway'
import type { Metrics } from '../../metrics/interface'
import { systemClock } from '../../services/clock'
import { nodeMetricsFor } from './metrics'
import { ownCredentialCheck } from './own-credential'
import { createPasswordPool } from './password-pool'
import { fromRoot } from './project-root'
import { developmentSecretKey } from './secret-key'
import { createUpstreamProbe } from './upstream-probe'

/** Token hashing on Node: synchronous node:crypto (WebCrypto's thread hop costs ~10 µs per check). */
export const nodeSha256 = (token: string): string => createHash('sha256').update(token).digest('hex')

export const packageVersion = (): string => (JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { version: string }).version

/** Environment → config on Node, with the development SECRET_KEY kept in DATA_DIR. */
export async function nodeConfig(env: Env, log: Logger): Promise<Config> {
  const production = env.NODE_ENV === 'production'
  const secretKey = env.SECRET_KEY || production ? undefined : await developmentSecretKey(env.DATA_DIR || './data', (m) => log.warn(m))
  return loadConfig(env, { secretKey, version: packageVersion(), cores: availableParallelism() })
}

export async function openCache(config: Config, log: Logger, metrics?: Metrics): Promise<TokenCache> {
  const shared = config.redisUrl ? await createRedisStore(config.redisUrl) : null
  return createTieredCache(shared, log, { metrics: metrics ? gatewayMetrics(metrics) : undefined })
}

/** Wires the real parts for Node: Postgres or PGlite, Redis or memory, bcrypt in worker threads. */
export async function buildNodeDeps(
  config: Config,
  log: Logger = consoleLogger(),
  /** An already open (and migrated) database, e.g. one test database shared by two app instances. */
  given?: { database: Database },
): Promise<AppDeps & { close(): Promise<void> }> {
  if (config.zenzefiTlsInsecure) {
    log.warn('ZENZEFI_TLS_INSECURE=true: the Zenzefi host certificate is NOT verified; set ZENZEFI_CA_FILE instead')
  }
  const database = given?.database ?? (await openMigratedDatabase(config))
  // prom-client when something can read it (METRICS_ADDR or METRICS_TOKEN), else the no-op.
  const metrics = nodeMetricsFor(config)
  const cache = await openCache(config, log, metrics)
  // Rate limits and failed-login counters shared by every instance on this Redis (else per instance).
  const limiter = config.redisUrl ? await createRedisLimiter(config.redisUrl) : null
  const hasher = createPasswordPool(config.bcryptRounds)
  return {
    config,
    database,
    cache,
    hasher,
    cipher: await createTokenCipher(config.secretKey),
    clock: systemClock,
    log,
    probeUpstream: createUpstreamProbe(config),
    hashToken: nodeSha256,
    isOwnCredential: ownCredentialCheck(config.secretKey),
    limiter,
    metrics,
    async close() {
      await Promise.allSettled([cache.close(), hasher.close?.(), limiter?.close()])
      if (!given) await database.close()
    },
  }
}
