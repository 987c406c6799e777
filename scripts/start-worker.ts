// `npm run start:worker`: the built worker bundle (dist/worker/main.js, made by
// `npm run build:worker`) served locally by Miniflare (workerd) on PORT, with the
// same environment contract as `npm start`, so any client can test the Workers build.
//
//   DATABASE_URL (or POSTGRES_*)  required: Workers can't run embedded PGlite. Migrated here
//                                 first (the worker never migrates).
//   REDIS_URL (or REDIS_*)        served to the worker over Upstash's REST protocol by a bridge
//                                 started in this process (test/support/upstash-bridge.ts);
//   UPSTASH_REDIS_REST_URL/TOKEN  or passed through as they are (they win over REDIS_URL).
//                                 Neither: the worker's in-isolate cache only.
//   SECRET_KEY                    as `npm start`: required with NODE_ENV=production, otherwise
//                                 generated once and kept in DATA_DIR.
//   ZENZEFI_CA_FILE               added to workerd's outbound trust store (Miniflare's outbound
//                                 "network" service), so https:// and wss:// to a self-signed
//                                 Zenzefi verify against it, as on Node.
//   ZENZEFI_TLS_INSECURE          NOT honoured: workerd has no switch to skip certificate checks.
//                                 Use ZENZEFI_CA_FILE.
//   PORT, HOST, ZENZEFI_TARGET_URL, ZENZEFI_TIMEOUT_SECONDS, BACKEND_URL, COOKIE_SECURE,
//   COOKIE_SAMESITE, CORS_ORIGINS, ACCESS_TOKEN_EXPIRE_MINUTES, BCRYPT_ROUNDS, NODE_ENV
//                                 as `npm start` (defaults included), handed to the worker as bindings.
//
//   TOKEN_PRICE_*, PAYMENT_PROVIDER, ZNC_TO_RUB_RATE, MIN_/MAX_TOPUP_ZNC, YOOKASSA_*, the rate limits,
//   DEVICE_LIMIT, SESSION_*, PROXY_SESSIONS
//                                 passed through as they are.
//
// wrangler.toml's [vars] are not applied: like `npm start`, only the environment counts.

import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { ConfigError, loadConfig } from '../src/config'
import { migrateDatabase, openDatabase } from '../src/db/connect-node'
import { consoleLogger } from '../src/logger'
import { nodeConfig } from '../src/runtime/node/deps'
import { publicUrl } from '../src/services/health'
import { startUpstashBridge, type UpstashBridge } from '../test/support/upstash-bridge'
import { pemCertificates, startWorker, WORKER_BUNDLE } from '../test/support/worker'

const PASSED_THROUGH =
  /^(TOKEN_PRICE_\d+H|PAYMENT_PROVIDER|ZNC_TO_RUB_RATE|MIN_TOPUP_ZNC|MAX_TOPUP_ZNC|YOOKASSA_[A-Z_]+|RATE_LIMITS|RATE_LIMIT_NAMESPACE|DEVICE_LIMIT|SESSION_[A-Z_]+|(LOGIN|REGISTER|PURCHASE|PROXY)_[A-Z_]+)$/

const log = consoleLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'info')

class StartError extends Error {}

async function main() {
  // Checked before anything is written (nodeConfig may generate a development SECRET_KEY).
  if (!loadConfig(process.env, { secretKey: 'unused' }).databaseUrl) {
    throw new StartError(
      'DATABASE_URL is required for the worker: Workers cannot run the embedded PGlite that `npm start` falls back to. ' +
        'Point it at a PostgreSQL server, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/zenzefi',
    )
  }
  const config = await nodeConfig(process.env, log)
  const databaseUrl = config.databaseUrl!
  if (!existsSync(WORKER_BUNDLE)) throw new StartError(`${WORKER_BUNDLE} is missing: run \`npm run build:worker\` first (npm run start:worker does)`)

  let trustedCertificates: string[] | undefined
  if (config.zenzefiCaFile) {
    let pem: string
    try {
      pem = readFileSync(config.zenzefiCaFile, 'utf8')
    } catch (err) {
      throw new StartError(`ZENZEFI_CA_FILE ${config.zenzefiCaFile} cannot be read: ${(err as Error).message}`)
    }
    trustedCertificates = pemCertificates(pem)
    if (trustedCertificates.length === 0) throw new StartError(`ZENZEFI_CA_FILE ${config.zenzefiCaFile} holds no PEM certificate`)
  }
  if (config.zenzefiTlsInsecure) {
    log.warn('ZENZEFI_TLS_INSECURE=true is NOT honoured by the worker: workerd always verifies upstream certificates; set ZENZEFI_CA_FILE instead')
  }

  // The worker never migrates: do it here, as `npm start` does on boot.
  const database = await openDatabase({ databaseUrl, dataDir: config.dataDir, pool: 1 })
  try {
    await migrateDatabase(database, databaseUrl)
  } finally {
    await database.close()
  }

  let bridge: UpstashBridge | null = null
  let upstash: { url: string; token: string } | null = null
  if (config.upstashUrl && config.upstashToken) {
    upstash = { url: config.upstashUrl, token: config.upstashToken }
  } else if (config.redisUrl) {
    bridge = await startUpstashBridge({ redisUrl: config.redisUrl, token: randomBytes(24).toString('base64url') })
    upstash = { url: bridge.url, token: bridge.token }
  } else {
    log.warn('no REDIS_URL or UPSTASH_REDIS_REST_URL: the worker caches tokens per isolate only')
  }

  const bindings: Record<string, string> = {
    NODE_ENV: config.env,
    SECRET_KEY: config.secretKey,
    DATABASE_URL: databaseUrl,
    ZENZEFI_TARGET_URL: config.zenzefiTargetUrl,
    ZENZEFI_TIMEOUT_SECONDS: String(config.zenzefiTimeoutSeconds),
    BACKEND_URL: config.backendUrl,
    ...(config.accountUrl ? { ACCOUNT_URL: config.accountUrl } : { ACCOUNT_URL: 'off' }),
    COOKIE_SECURE: String(config.cookieSecure),
    COOKIE_SAMESITE: config.cookieSameSite,
    CORS_ORIGINS: config.corsOrigins.join(','),
    ACCESS_TOKEN_EXPIRE_MINUTES: String(config.accessTokenExpireMinutes),
    BCRYPT_ROUNDS: String(config.bcryptRounds),
    // Prices, the payment provider and limits: passed through as set (the worker reads and checks them itself).
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => PASSED_THROUGH.test(e[0]) && e[1] !== undefined)),
    ...(upstash ? { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token } : {}),
  }

  let worker: Awaited<ReturnType<typeof startWorker>>
  try {
    worker = await startWorker(bindings, { host: config.host, port: config.port, trustedCertificates, log: true })
  } catch (err) {
    await bridge?.close()
    throw err
  }
  log.info('listening', {
    url: worker.url,
    runtime: 'workerd (Miniflare)',
    bundle: WORKER_BUNDLE,
    database: publicUrl(databaseUrl),
    cache: bridge ? `upstash bridge → ${publicUrl(config.redisUrl!)}` : upstash ? publicUrl(upstash.url) : 'in-isolate',
    zenzefi: config.zenzefiTargetUrl,
    zenzefiCa: config.zenzefiCaFile ?? 'system trust',
  })

  // Ctrl-C / SIGTERM: Miniflare's own exit hook stops workerd and exits (130 / 143); the
  // bridge's sockets close with the process.
}

main().catch((err) => {
  if (err instanceof StartError || err instanceof ConfigError) log.error(`configuration error: ${err.message}`)
  else log.error('failed to start', { error: err })
  process.exit(1)
})
