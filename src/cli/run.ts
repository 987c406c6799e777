import { type App, createApp } from '../app'
import type { TokenCache } from '../cache/interface'
import { type Config, ConfigError, type Env } from '../config'
import { createTokenCipher } from '../crypto/access-token'
import type { PasswordHasher } from '../crypto/password'
import type { Database } from '../db/client'
import { migrateDatabase, openDatabase } from '../db/connect-node'
import { nodeConfig, openCache } from '../runtime/node/deps'
import { createPasswordPool } from '../runtime/node/password-pool'
import { type Accounts, createAccounts } from '../services/accounts'
import { createAdminTokens } from '../services/admin-tokens'
import { type Audit, createAudit } from '../services/audit'
import { systemClock } from '../services/clock'
import { DomainError } from '../services/errors'
import { createLocks } from '../services/locks'
import { createSessionService } from '../services/sessions'
import { setUserActive } from './activation'
import { adjustBalance, adjustmentInput } from './adjust-balance'
import { auditExport, auditExportInput, auditVerify, cliCommand } from './audit'
import { checkDb } from './check-db'
import { clearDb } from './clear-db'
import { type CommandLine, isDestructive, parseCommandLine, usage } from './command-line'
import { describeDatabase, driverMessage } from './database-state'
import { grantInput, grantToken } from './grant-token'
import { importPythonBackend } from './import-python-backend'
import { CliError, cliLogger, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Output } from './io'
import { ledgerCheck } from './ledger-check'
import { lockCommand, lockInput, unlockCommand, unlockInput } from './locks'
import { migrate } from './migrate'
import { paymentsReconcile } from './payments-reconcile'
import { resetDb } from './reset-db'
import { killInput, killSession, listSessions } from './sessions'
import { createSuperuser, superuserInput } from './superuser'

export interface RunOptions {
  env: Env
  io: Output
  /** An already open database to use instead of the one the environment names (tests); left open. */
  database?: Database
}

/** clear-db and reset-db in production need `--yes`; checked before anything is opened. */
export function refuseUnconfirmed(line: CommandLine, env: Env): void {
  if (isDestructive(line.command) && env.NODE_ENV === 'production' && !line.options.yes) {
    throw new CliError(`refusing to run ${line.command} with NODE_ENV=production: it destroys data; pass --yes to confirm`)
  }
}

/**
 * What a command may need, opened on first use and closed once at the end: a
 * command that only reads the database never starts bcrypt workers or Redis.
 */
function resources(config: Config, opts: RunOptions) {
  let database: Promise<Database> | undefined
  let migrated: Promise<Database> | undefined
  let cache: Promise<TokenCache> | undefined
  let pool: PasswordHasher | undefined
  const log = cliLogger(opts.io)
  // bcrypt off the main thread, as the server does; the workers start on the first hash.
  const hasher: PasswordHasher = {
    rounds: config.bcryptRounds,
    hash: (p) => (pool ??= createPasswordPool(config.bcryptRounds)).hash(p),
    verify: (p, h) => (pool ??= createPasswordPool(config.bcryptRounds)).verify(p, h),
  }
  let audit: Audit | undefined
  const r = {
    /** The same chain key as the server's (SECRET_KEY): events written here verify there. */
    audit: () => (audit ??= createAudit({ secretKey: config.secretKey, log, now: () => systemClock.now() })),
    database: () => (database ??= opts.database ? Promise.resolve(opts.database) : openDatabase(config)),
    /** Open and migrated, as the server is once started: commands that write rows run on a current schema. */
    migrated: () =>
      (migrated ??= r.database().then(async (d) => {
        await migrateDatabase(d, config.databaseUrl)
        return d
      })),
    cache: () => (cache ??= openCache(config, log)),
    async accounts(): Promise<Accounts> {
      const d = await r.migrated()
      return createAccounts({ db: d.db, hasher, cache: await r.cache(), clock: systemClock, audit: r.audit() })
    },
    /** The server's own wiring of the services (payment provider included), with nothing listening. */
    async app(): Promise<App> {
      const d = await r.migrated()
      return createApp({
        config,
        database: d,
        cache: await r.cache(),
        hasher,
        cipher: await createTokenCipher(config.secretKey),
        clock: systemClock,
        log,
        // /health is never served from here.
        probeUpstream: () => Promise.reject(new Error('not probed from the CLI')),
      })
    },
    async close() {
      const settled = await Promise.allSettled([cache?.then((c) => c.close()), pool?.close?.(), opts.database ? undefined : database?.then((d) => d.close())])
      for (const s of settled) if (s.status === 'rejected') opts.io.err(`warning: while closing: ${driverMessage(s.reason)}`)
    },
  }
  return r
}

async function dispatch(line: CommandLine, config: Config, r: ReturnType<typeof resources>, opts: RunOptions): Promise<void> {
  const { io } = opts
  switch (line.command) {
    case 'help':
      io.out(usage())
      return
    case 'migrate': {
      const database = await r.database()
      io.out(`database: ${describeDatabase(database.kind, config)}`)
      await migrate({ database, databaseUrl: config.databaseUrl }, io)
      return
    }
    case 'check-db': {
      const database = await r.database().catch((err: unknown) => {
        throw new CliError(`database unreachable: ${describeDatabase(config.databaseUrl ? 'postgres' : 'pglite', config)}: ${driverMessage(err)}`)
      })
      await checkDb({ database, description: describeDatabase(database.kind, config) }, io)
      return
    }
    case 'create-superuser': {
      const input = superuserInput(line.options, opts.env) // before opening anything: bad input fails fast
      const database = await r.migrated()
      await createSuperuser({ accounts: await r.accounts(), db: database.db, clock: systemClock, audit: r.audit() }, input, io)
      return
    }
    case 'activate-user':
    case 'deactivate-user': {
      const database = await r.migrated()
      const deps = { accounts: await r.accounts(), db: database.db, cache: await r.cache(), audit: r.audit() }
      await setUserActive(deps, line.options.email, line.command === 'activate-user', io)
      return
    }
    case 'clear-db': {
      const database = await r.migrated()
      io.out(`database: ${describeDatabase(database.kind, config)}`)
      await clearDb({ db: database.db, cache: await r.cache(), audit: r.audit() }, io)
      return
    }
    case 'reset-db': {
      const database = await r.database()
      io.out(`database: ${describeDatabase(database.kind, config)}`)
      await resetDb({ database, cache: await r.cache() }, io)
      // The first event of the new chain: the log itself went with the tables.
      await database.db.transaction((tx) => r.audit().record(tx as never, cliCommand('reset-db')))
      return
    }
    case 'import-python-backend': {
      // Before opening anything, as for the other commands' bad input.
      if (!line.options.from) throw new CliError('import-python-backend: missing --from <postgres url of the earlier backend>', EXIT_USAGE)
      const database = await r.migrated()
      await importPythonBackend({ db: database.db, cipher: await createTokenCipher(config.secretKey), audit: r.audit() }, line.options.from, io)
      return
    }
    case 'ledger-check': {
      const database = await r.database()
      await ledgerCheck({ db: database.db }, io)
      return
    }
    case 'adjust-balance': {
      const input = adjustmentInput(line.options) // before opening anything: bad input fails fast
      const database = await r.migrated()
      await adjustBalance({ db: database.db, audit: r.audit() }, input, io)
      return
    }
    case 'audit-verify': {
      const database = await r.database()
      await auditVerify({ db: database.db, audit: r.audit() }, io)
      return
    }
    case 'audit-export': {
      const input = auditExportInput(line.options) // before opening anything: bad input fails fast
      const database = await r.database()
      await auditExport({ db: database.db }, input, io)
      return
    }
    case 'lock':
    case 'unlock': {
      // Before opening anything: bad input fails fast.
      const input = line.command === 'lock' ? lockInput(line.options) : null
      const target = line.command === 'unlock' ? unlockInput(line.options) : null
      const database = await r.migrated()
      const cache = await r.cache()
      const deps = { db: database.db, locks: createLocks({ db: database.db, cache, clock: systemClock, audit: r.audit() }), cacheKind: cache.kind }
      await (input ? lockCommand(deps, input, io) : unlockCommand(deps, target!, io))
      return
    }
    case 'sessions': {
      const database = await r.migrated()
      const sessions = createSessionService({ db: database.db, audit: r.audit(), clock: systemClock })
      await listSessions({ db: database.db, sessions }, { user: line.options.user, all: Boolean(line.options.all) }, io)
      return
    }
    case 'kill-session': {
      const input = killInput(line.options) // before opening anything: bad input fails fast
      const database = await r.migrated()
      const sessions = createSessionService({ db: database.db, audit: r.audit(), clock: systemClock })
      await killSession({ sessions, cache: await r.cache() }, input, io)
      return
    }
    case 'grant-token': {
      const input = grantInput(line.options) // before opening anything: bad input fails fast
      const database = await r.migrated()
      const cipher = await createTokenCipher(config.secretKey)
      const adminTokens = createAdminTokens({ db: database.db, cache: await r.cache(), cipher, clock: systemClock, audit: r.audit() })
      await grantToken({ db: database.db, adminTokens }, input, io)
      return
    }
    case 'payments-reconcile': {
      const { services } = await r.app()
      await paymentsReconcile({ database: await r.migrated(), payments: services.payments }, io)
      return
    }
  }
}

/** The whole CLI short of the process: parse, guard, open, run, close. Returns the exit status. */
export async function runCli(argv: string[], opts: RunOptions): Promise<number> {
  const { io, env } = opts
  let r: ReturnType<typeof resources> | undefined
  try {
    const line = parseCommandLine(argv)
    if (line.command === 'help') {
      io.out(usage())
      return EXIT_OK
    }
    refuseUnconfirmed(line, env)
    const config = await nodeConfig(env, cliLogger(io))
    r = resources(config, opts)
    await dispatch(line, config, r, opts)
    return EXIT_OK
  } catch (err) {
    return report(err, io, env)
  } finally {
    await r?.close()
  }
}

function report(err: unknown, io: Output, env: Env): number {
  if (err instanceof CliError) {
    io.err(err.message)
    if (err.showUsage) io.err(`\n${usage()}`)
    else if (err.exitCode === EXIT_USAGE) io.err('run `npm run cli -- help` for usage')
    return err.exitCode
  }
  if (err instanceof ConfigError) {
    io.err(`configuration error: ${err.message}`)
    return EXIT_FAILED
  }
  // A refusal from the services (the same words an API client reads).
  if (err instanceof DomainError) {
    io.err(err.message)
    return EXIT_FAILED
  }
  // Unexpected (the database went away mid-command, …): the driver's reason, a stack only on request.
  io.err(`error: ${driverMessage(err)}`)
  if (env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) io.err(err.stack)
  return EXIT_FAILED
}
