import { createHash } from 'node:crypto'
import { eq, inArray, or } from 'drizzle-orm'
import postgres from 'postgres'
import { hashAccessToken, TOKEN_PATTERN, type TokenCipher } from '../crypto/access-token'
import { type Db, pgConstraint, pgErrorCode } from '../db/client'
import { accessTokens, users } from '../db/schema'
import { normalizeEmail } from '../services/accounts'
import type { Audit } from '../services/audit'
import { publicUrl } from '../services/health'
import { postOpeningBalance } from '../services/ledger'
import { ALLOWED_DURATIONS } from '../services/tokens'
import { UUID } from '../services/uuid'
import { cliCommand } from './audit'
import { driverMessage } from './database-state'
import { CliError, EXIT_USAGE, type Output } from './io'

// `import-python-backend --from <postgres url>`: copies the earlier backend's users, access
// tokens and balances into this one. The source is only read; every user lands with their
// tokens and opening balance in one transaction here, and rows already here are left alone,
// so running it again imports only what is new.

/** The earlier backend's last Alembic revision: the schema this importer was written against. */
export const EARLIER_BACKEND_HEAD = 'f83f3a8db3d9'

const HOUR_MS = 3_600_000
// passlib's bcrypt writes $2b$; bcryptjs verifies $2a$, $2b$ and $2y$ alike.
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/
const OPENING_REFERENCE = (oldUserId: string) => `python:${oldUserId}`

/** Columns read from the earlier backend; the optional ones came with later revisions. */
const REQUIRED = {
  users: ['id', 'email', 'username', 'hashed_password', 'is_active', 'is_superuser', 'created_at', 'updated_at'],
  access_tokens: ['id', 'user_id', 'token', 'duration_hours', 'created_at', 'activated_at', 'is_active', 'revoked_at'],
} as const
const OPTIONAL = { users: ['full_name', 'currency_balance'], access_tokens: ['scope'] } as const
type SourceTable = keyof typeof REQUIRED

export interface SourceUser {
  id: string
  email: string
  username: string
  hashedPassword: string
  fullName: string | null
  isActive: boolean
  isSuperuser: boolean
  createdAt: Date | null
  updatedAt: Date | null
  /** numeric as text, exactly as stored; null when the schema predates balances. */
  balance: string | null
}

export interface SourceToken {
  id: string
  userId: string
  token: string
  durationHours: number
  scope: string
  createdAt: Date | null
  activatedAt: Date | null
  isActive: boolean
  revokedAt: Date | null
}

export interface SourceData {
  revision: string | null
  /** Optional columns the source lacks (an older revision), as `table.column`. */
  absent: string[]
  users: SourceUser[]
  tokens: SourceToken[]
}

export type Outcome = 'imported' | 'already imported' | 'skipped'

export interface Skip {
  kind: 'user' | 'access token' | 'balance'
  /** The earlier backend's id (of the user, for a balance). */
  id: string
  reason: string
}

export interface ImportReport {
  users: Record<Outcome, number>
  tokens: Record<Outcome, number>
  balances: Record<Outcome | 'zero', number>
  skipped: Skip[]
}

/**
 * Exact ZNC → minor units (1 ZNC = 100) from the numeric's text. Never rounds: a third
 * non-zero decimal, a negative value or one past 2^53 is refused with the reason.
 */
export function toMinorUnits(text: string): { minor: number } | { reason: string } {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(text.trim())
  if (!m) return { reason: `${text} is not a number` }
  // Trailing zeros change nothing ("1.500" is 1.50); only a real third decimal would need rounding.
  const fraction = (m[3] ?? '').replace(/0+$/, '')
  if (fraction.length > 2) return { reason: `${text} ZNC has more than 2 decimals (1 ZNC = 100 minor units); not rounded` }
  const minor = BigInt(m[2]!) * 100n + BigInt(fraction.padEnd(2, '0'))
  if (m[1] === '-' && minor !== 0n) return { reason: `${text} ZNC is negative; a wallet here cannot go below zero` }
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) return { reason: `${text} ZNC is too large` }
  return { minor: Number(minor) }
}

/** "150.50" from 15050: how amounts are printed. */
const znc = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`

/** The earlier backend's ids are UUIDs and are kept; anything else gets a stable UUID derived from it, so a rerun finds it again. */
export function mappedId(kind: 'user' | 'token', id: string): string {
  if (UUID.test(id)) return id.toLowerCase()
  const h = createHash('sha256').update(`earlier-backend:${kind}:${id}`).digest('hex')
  // RFC 9562 version 8 (custom) with the RFC variant bits.
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** Everything needed, in one REPEATABLE READ read-only transaction: users and tokens from the same moment. */
export async function readEarlierBackend(fromUrl: string): Promise<SourceData> {
  const sql = postgres(fromUrl, {
    max: 1,
    onnotice: () => {},
    fetch_types: false,
    connect_timeout: 10,
    // Read-only for the whole session too, not just the transaction below.
    connection: { application_name: 'zenzefi-import', default_transaction_read_only: true },
  })
  try {
    return await sql.begin('isolation level repeatable read read only', async (q) => {
      const rows = await q<{ table_name: SourceTable; column_name: string; data_type: string }[]>`
        select table_name, column_name, data_type from information_schema.columns
        where table_schema = current_schema() and table_name in ('users', 'access_tokens')`
      const types = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r.data_type]))
      for (const table of Object.keys(REQUIRED) as SourceTable[]) {
        const missing = REQUIRED[table].filter((c) => !types.has(`${table}.${c}`))
        if (missing.length > 0) {
          const what = missing.length === REQUIRED[table].length ? `no ${table} table` : `no ${missing.map((c) => `${table}.${c}`).join(', ')}`
          throw new CliError(`import-python-backend: the source has ${what}: is it the earlier backend's database?`)
        }
      }
      const has = (table: SourceTable, column: string) => types.has(`${table}.${column}`)
      const absent = (Object.keys(OPTIONAL) as SourceTable[]).flatMap((t) => OPTIONAL[t].filter((c) => !has(t, c)).map((c) => `${t}.${c}`))
      // Its DateTime columns are `timestamp without time zone` holding UTC (it reads them back as UTC too).
      const at = (table: SourceTable, column: string) =>
        types.get(`${table}.${column}`) === 'timestamp without time zone' ? `("${column}" at time zone 'UTC')` : `"${column}"`

      const [alembic] = await q<{ t: string | null }[]>`select to_regclass('alembic_version')::text as t`
      const [version] = alembic?.t ? await q<{ version_num: string }[]>`select version_num from alembic_version limit 1` : []

      const sourceUsers = await q.unsafe<(Omit<SourceUser, 'balance'> & { balance: string | null })[]>(`
        select id::text as "id", email as "email", username as "username", hashed_password as "hashedPassword",
          ${has('users', 'full_name') ? 'full_name' : 'null::text'} as "fullName",
          is_active as "isActive", is_superuser as "isSuperuser",
          ${at('users', 'created_at')} as "createdAt", ${at('users', 'updated_at')} as "updatedAt",
          ${has('users', 'currency_balance') ? 'currency_balance::text' : 'null::text'} as "balance"
        from users order by created_at, id`)
      const sourceTokens = await q.unsafe<SourceToken[]>(`
        select id::text as "id", user_id::text as "userId", token as "token", duration_hours as "durationHours",
          ${has('access_tokens', 'scope') ? 'scope' : `'full'`} as "scope",
          ${at('access_tokens', 'created_at')} as "createdAt", ${at('access_tokens', 'activated_at')} as "activatedAt",
          is_active as "isActive", ${at('access_tokens', 'revoked_at')} as "revokedAt"
        from access_tokens order by created_at, id`)
      return { revision: version?.version_num ?? null, absent, users: [...sourceUsers], tokens: [...sourceTokens] }
    })
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`import-python-backend: cannot read the earlier backend at ${publicUrl(fromUrl)}: ${driverMessage(err)}`)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/** Why a user of the earlier backend can't be a user here as is; null if it can. */
function userProblem(u: SourceUser, email: string): string | null {
  if (email === '' || email.length > 255) return 'email is empty or longer than 255 characters'
  if (u.username.length === 0 || u.username.length > 50) return 'username is empty or longer than 50 characters'
  if (u.fullName !== null && u.fullName.length > 255) return 'full name is longer than 255 characters'
  // Not printed: even a prefix of a hash is nothing to put in a log.
  if (!BCRYPT.test(u.hashedPassword)) return 'password hash is not bcrypt, so the password could not be checked here'
  return null
}

/** Why an access token can't be one here; null if it can. */
function tokenProblem(t: SourceToken): string | null {
  if (!TOKEN_PATTERN.test(t.token)) return 'token is not 64 URL-safe characters, so it could never be presented here'
  if (!(ALLOWED_DURATIONS as readonly number[]).includes(t.durationHours)) return `duration ${t.durationHours} h is not one of ${ALLOWED_DURATIONS.join(', ')}`
  // Tokens here have no scope: importing a narrower one would widen it to full access.
  if (t.scope !== 'full') return `scope ${t.scope} has no equivalent here (it would become full access)`
  return null
}

/**
 * `import-python-backend`. Prints one line per user imported, one per thing skipped
 * with why, and the totals; returns the same as a report.
 */
export async function importPythonBackend(
  deps: { db: Db; cipher: TokenCipher; audit?: Audit },
  fromUrl: string | undefined,
  io: Output,
): Promise<ImportReport> {
  if (!fromUrl) throw new CliError('import-python-backend: missing --from <postgres url of the earlier backend>', EXIT_USAGE)
  if (!/^postgres(?:ql)?:\/\//.test(fromUrl)) throw new CliError('import-python-backend: --from must be a postgres:// or postgresql:// url', EXIT_USAGE)
  const source = await readEarlierBackend(fromUrl)
  const revision = source.revision ?? 'no alembic_version'
  io.out(`read the earlier backend at ${publicUrl(fromUrl)} (revision ${revision}): ${source.users.length} user(s), ${source.tokens.length} access token(s)`)
  if (source.revision !== EARLIER_BACKEND_HEAD) io.out(`note: this import was written for revision ${EARLIER_BACKEND_HEAD}, the earlier backend's last`)
  // Older revisions lack these; what they would carry is left out, not guessed.
  const meaning: Record<string, string> = {
    'users.full_name': 'users get no full name',
    'users.currency_balance': 'no balances are imported',
    'access_tokens.scope': 'every token counts as full access',
  }
  for (const column of source.absent) io.out(`note: the source has no ${column}: ${meaning[column] ?? 'left out'}`)
  return importSource(deps, source, io)
}

/** The writing half, on data already read from the earlier backend. */
export async function importSource(deps: { db: Db; cipher: TokenCipher; audit?: Audit }, source: SourceData, io: Output): Promise<ImportReport> {
  const report: ImportReport = {
    users: { imported: 0, 'already imported': 0, skipped: 0 },
    tokens: { imported: 0, 'already imported': 0, skipped: 0 },
    balances: { imported: 0, 'already imported': 0, skipped: 0, zero: 0 },
    skipped: [],
  }
  const skip = (kind: Skip['kind'], id: string, label: string, reason: string) => {
    report.skipped.push({ kind, id, reason })
    if (kind === 'user') report.users.skipped++
    else if (kind === 'access token') report.tokens.skipped++
    else report.balances.skipped++
    io.out(`skipped ${label}: ${reason}`)
  }

  const tokensByUser = new Map<string, SourceToken[]>()
  const sourceUserIds = new Set(source.users.map((u) => u.id))
  for (const t of source.tokens) {
    if (!sourceUserIds.has(t.userId)) {
      skip('access token', t.id, `access token ${t.id}`, `its user ${t.userId} is not in the earlier backend`)
      continue
    }
    tokensByUser.set(t.userId, [...(tokensByUser.get(t.userId) ?? []), t])
  }

  /** A skipped user takes their tokens and balance along: those are counted as skipped too. */
  const skipUser = (u: SourceUser, reason: string) => {
    const tokens = tokensByUser.get(u.id) ?? []
    const balance = u.balance === null ? null : toMinorUnits(u.balance)
    const hasBalance = balance !== null && !('minor' in balance && balance.minor === 0)
    const along = [tokens.length > 0 && `${tokens.length} access token(s)`, hasBalance && `balance ${u.balance} ZNC`].filter(Boolean)
    skip('user', u.id, `user ${u.username} <${u.email}> (id ${u.id})`, reason + (along.length > 0 ? `; not imported with it: ${along.join(', ')}` : ''))
    report.tokens.skipped += tokens.length
    if (hasBalance) report.balances.skipped++
  }

  const emailOwner = new Map<string, string>()
  for (const u of source.users) {
    const email = normalizeEmail(u.email)
    const tokens = tokensByUser.get(u.id) ?? []
    const first = emailOwner.get(email)
    if (first !== undefined) {
      skipUser(u, `email is ${email} once lower-cased, as is user ${first}'s, which came first and keeps it`)
      continue
    }
    emailOwner.set(email, u.id)
    const problem = userProblem(u, email)
    if (problem) {
      skipUser(u, problem)
      continue
    }
    try {
      const done = await deps.db.transaction(async (tx) => {
        const did = await importUser(tx, deps.cipher, u, email, tokens)
        // One event per user something was written for, in the same transaction as what was written.
        if (did.user === 'skipped') return did
        const wrote = did.user === 'imported' || did.balance.outcome === 'imported' || did.tokens.some((t) => t.outcome === 'imported')
        if (wrote) await deps.audit?.record(tx, cliCommand('import-python-backend', did.id))
        return did
      })
      if (done.user === 'skipped') {
        skipUser(u, done.reason)
        continue
      }
      report.users[done.user]++
      const b = done.balance
      const added = done.tokens.filter((t) => t.outcome === 'imported').map((t) => t.source)
      if (done.user === 'imported') {
        const flags = [u.isSuperuser && ', superuser', !u.isActive && ', inactive'].filter(Boolean).join('')
        io.out(`imported user ${u.username} <${email}> (id ${done.id})${flags}: ${describeTokens(added)}, ${describeBalance(b)}`)
      } else if (added.length > 0 || b.outcome === 'imported') {
        // Already here from an earlier run; only what the earlier backend gained since is new.
        const parts = [added.length > 0 && describeTokens(added), b.outcome === 'imported' && describeBalance(b)].filter(Boolean)
        io.out(`added to user ${u.username} <${email}> (imported before): ${parts.join(', ')}`)
      }
      for (const t of done.tokens) {
        if (t.outcome === 'skipped') skip('access token', t.id, `access token ${t.id} of <${email}>`, t.reason)
        else report.tokens[t.outcome]++
      }
      if (b.outcome === 'skipped') skip('balance', u.id, `balance of <${email}>`, b.reason)
      else if (b.outcome !== 'none') report.balances[b.outcome]++
    } catch (err) {
      // Someone wrote a clashing row here while we ran (a registration, a purchase): this user is left for the next run.
      if (pgErrorCode(err) !== '23505') throw err
      skipUser(u, `clashed with a row written here meanwhile (${pgConstraint(err) ?? 'a unique index'}); nothing of it was written, run again`)
    }
  }

  const count = (c: Record<string, number>, keys: string[]) => keys.map((k) => `${c[k]} ${k}`).join(', ')
  const outcomes = ['imported', 'already imported', 'skipped']
  io.out(
    `done: users ${count(report.users, outcomes)}; access tokens ${count(report.tokens, outcomes)}; ` +
      `balances ${count(report.balances, outcomes)}, ${report.balances.zero} zero (nothing to post)`,
  )
  if (report.users.imported + report.tokens.imported + report.balances.imported === 0) {
    io.out(report.users['already imported'] > 0 ? 'nothing new to import: everything importable was already imported' : 'nothing imported')
  }
  return report
}

function describeBalance(b: BalanceOutcome): string {
  switch (b.outcome) {
    case 'imported':
      return `opening balance ${znc(b.minor)} ZNC`
    case 'already imported':
      return `opening balance ${znc(b.minor)} ZNC (posted before)`
    case 'zero':
      return 'zero balance'
    case 'skipped':
      return 'balance skipped'
    case 'none':
      return 'no balance in the source'
  }
}

function describeTokens(tokens: SourceToken[]): string {
  if (tokens.length === 0) return 'no access tokens'
  const revoked = tokens.filter((t) => !t.isActive || t.revokedAt !== null).length
  const activated = tokens.filter((t) => t.activatedAt !== null).length
  return `${tokens.length} access token(s) (${activated} activated, ${revoked} revoked)`
}

type TokenOutcome = { id: string; source: SourceToken } & ({ outcome: 'imported' | 'already imported' } | { outcome: 'skipped'; reason: string })
type BalanceOutcome =
  | { outcome: 'none' }
  | { outcome: 'zero' }
  | { outcome: 'imported' | 'already imported'; minor: number }
  | { outcome: 'skipped'; reason: string }
type UserOutcome = { user: 'skipped'; reason: string } | { user: 'imported' | 'already imported'; id: string; tokens: TokenOutcome[]; balance: BalanceOutcome }

/** One user, their tokens and their opening balance, inside one transaction here. */
async function importUser(tx: Db, cipher: TokenCipher, u: SourceUser, email: string, tokens: SourceToken[]): Promise<UserOutcome> {
  const id = mappedId('user', u.id)
  const clashes = await tx
    .select({ id: users.id, email: users.email, username: users.username })
    .from(users)
    .where(or(eq(users.id, id), eq(users.email, email), eq(users.username, u.username)))
  const same = clashes.find((c) => c.id === id)
  let user: 'imported' | 'already imported'
  if (same) {
    if (same.email !== email || same.username !== u.username)
      return { user: 'skipped', reason: `id ${id} is already user ${same.username} <${same.email}> here` }
    user = 'already imported'
  } else if (clashes.some((c) => c.email === email)) {
    return { user: 'skipped', reason: `email ${email} is already registered here by another account` }
  } else if (clashes.some((c) => c.username === u.username)) {
    return { user: 'skipped', reason: `username ${u.username} is already taken here by another account` }
  } else {
    await tx.insert(users).values({
      id,
      email,
      username: u.username,
      hashedPassword: u.hashedPassword,
      fullName: u.fullName,
      isActive: u.isActive,
      isSuperuser: u.isSuperuser,
      createdAt: u.createdAt ?? undefined,
      updatedAt: u.updatedAt ?? u.createdAt ?? undefined,
    })
    user = 'imported'
  }
  return { user, id, tokens: await importTokens(tx, cipher, id, tokens), balance: await importBalance(tx, u, id) }
}

async function importTokens(tx: Db, cipher: TokenCipher, userId: string, tokens: SourceToken[]): Promise<TokenOutcome[]> {
  const out: TokenOutcome[] = []
  const candidates: { t: SourceToken; id: string; hash: string }[] = []
  for (const t of tokens) {
    const problem = tokenProblem(t)
    if (problem) out.push({ id: t.id, source: t, outcome: 'skipped', reason: problem })
    else candidates.push({ t, id: mappedId('token', t.id), hash: await hashAccessToken(t.token) })
  }
  if (candidates.length === 0) return out
  const here = await tx
    .select({ id: accessTokens.id, userId: accessTokens.userId, hash: accessTokens.tokenHash })
    .from(accessTokens)
    .where(
      or(
        inArray(
          accessTokens.id,
          candidates.map((c) => c.id),
        ),
        inArray(
          accessTokens.tokenHash,
          candidates.map((c) => c.hash),
        ),
      ),
    )
  for (const { t, id, hash } of candidates) {
    const byId = here.find((h) => h.id === id)
    const byHash = here.find((h) => h.hash === hash)
    if (byId && byId.hash === hash && byId.userId === userId) {
      out.push({ id: t.id, source: t, outcome: 'already imported' })
      continue
    }
    if (byId || byHash) {
      const reason = byHash ? `the same token is already here as token ${byHash.id}` : `id ${id} is already another access token here`
      out.push({ id: t.id, source: t, outcome: 'skipped', reason })
      continue
    }
    // Revoked there (either flag) stays revoked here; the activation clock runs on from where it was.
    const revoked = !t.isActive || t.revokedAt !== null
    await tx.insert(accessTokens).values({
      id,
      userId,
      tokenHash: hash,
      tokenCiphertext: await cipher.encrypt(t.token),
      durationHours: t.durationHours,
      isActive: !revoked,
      createdAt: t.createdAt ?? undefined,
      activatedAt: t.activatedAt,
      expiresAt: t.activatedAt ? new Date(t.activatedAt.getTime() + t.durationHours * HOUR_MS) : null,
      revokedAt: t.revokedAt,
    })
    out.push({ id: t.id, source: t, outcome: 'imported' })
  }
  return out
}

async function importBalance(tx: Db, u: SourceUser, userId: string): Promise<BalanceOutcome> {
  if (u.balance === null) return { outcome: 'none' }
  const amount = toMinorUnits(u.balance)
  if ('reason' in amount) return { outcome: 'skipped', reason: amount.reason }
  if (amount.minor === 0) return { outcome: 'zero' }
  const posted = await postOpeningBalance(tx, {
    userId,
    amountMinor: amount.minor,
    reference: OPENING_REFERENCE(u.id),
    description: `Opening balance carried over from the earlier backend: ${znc(amount.minor)} ZNC`,
  })
  return { outcome: posted === 'posted' ? 'imported' : 'already imported', minor: amount.minor }
}
