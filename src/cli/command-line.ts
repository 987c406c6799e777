import { parseArgs } from 'node:util'
import { CliError, EXIT_USAGE } from './io'

// The CLI's grammar: which commands exist, which options each takes, and the usage text.

type OptionName =
  | 'email'
  | 'username'
  | 'password'
  | 'full-name'
  | 'yes'
  | 'from'
  | 'user'
  | 'amount'
  | 'reason'
  | 'reference'
  | 'format'
  | 'since'
  | 'until'
  | 'token'
  | 'message'
  | 'hours'
  | 'session'
  | 'all'

interface CommandSpec {
  options: OptionName[]
  synopsis: string
  summary: string
  destructive?: boolean
}

export const COMMANDS = {
  migrate: { options: [], synopsis: 'migrate', summary: 'apply pending migrations from drizzle/ (what the server does at startup)' },
  'create-superuser': {
    options: ['email', 'username', 'password', 'full-name'],
    synopsis: 'create-superuser --email E --username U --password P [--full-name N]',
    summary: 'create a superuser; an existing user with that email is made superuser and active instead',
  },
  'deactivate-user': {
    options: ['email'],
    synopsis: 'deactivate-user --email E',
    summary: 'deactivate a user: logins and all of their access tokens are refused on every instance',
  },
  'activate-user': { options: ['email'], synopsis: 'activate-user --email E', summary: 'reactivate a user' },
  'check-db': { options: [], synopsis: 'check-db', summary: 'report database kind, migration state and row counts (exit 1 if unreachable)' },
  'clear-db': {
    options: ['yes'],
    synopsis: 'clear-db [--yes]',
    summary: 'delete every user, access token, balance, ledger transaction and payment, keeping the schema',
    destructive: true,
  },
  'reset-db': {
    options: ['yes'],
    synopsis: 'reset-db [--yes]',
    summary: 'drop the tables, their functions and the migration bookkeeping, then migrate again from scratch',
    destructive: true,
  },
  'import-python-backend': {
    options: ['from'],
    synopsis: 'import-python-backend --from postgres://…',
    summary: "import the earlier backend's users, access tokens and balances (safe to rerun)",
  },
  'ledger-check': {
    options: [],
    synopsis: 'ledger-check',
    summary: 'check every credits invariant against the data itself (exit 1 on any violation)',
  },
  'adjust-balance': {
    options: ['user', 'amount', 'reason', 'reference'],
    synopsis: 'adjust-balance --user EMAIL|ID --amount ±ZNC --reason TEXT [--reference KEY]',
    summary: 'give (25.00) or take (-5.50) credits, with a reason the user sees; the same --reference moves money once',
  },
  'payments-reconcile': {
    options: [],
    synopsis: 'payments-reconcile',
    summary: 'ask the payment provider about every open top-up once and credit the paid ones (exit 1 if it is unreachable)',
  },
  'audit-verify': {
    options: [],
    synopsis: 'audit-verify',
    summary: 'check the audit log against its HMAC chain: an edited or deleted event is named (exit 1 on any)',
  },
  'audit-export': {
    options: ['format', 'since', 'until', 'user'],
    synopsis: 'audit-export [--format ndjson|csv] [--since ISO] [--until ISO] [--user EMAIL|ID]',
    summary: 'write the audit events to stdout, oldest first (since inclusive, until exclusive)',
  },
  lock: {
    options: ['user', 'token', 'message', 'until'],
    synopsis: 'lock --user EMAIL|ID | --token ID --message TEXT [--until ISO]',
    summary: 'lock a user or a token: proxied requests get 403 with the message until it lapses or is lifted; open sockets close',
  },
  unlock: { options: ['user', 'token'], synopsis: 'unlock --user EMAIL|ID | --token ID', summary: 'lift the lock on a user or a token' },
  sessions: {
    options: ['user', 'all'],
    synopsis: 'sessions [--user EMAIL|ID] [--all]',
    summary: 'who is using Zenzefi: open proxy sessions (with --all, ended ones too), newest first',
  },
  'kill-session': {
    options: ['session', 'reason'],
    synopsis: 'kill-session --session ID [--reason TEXT]',
    summary: "end a proxy session: that device's WebSockets and downloads close within 2 s on every instance",
  },
  'grant-token': {
    options: ['user', 'hours', 'reason'],
    synopsis: 'grant-token --user EMAIL|ID --hours N --reason TEXT',
    summary: 'give a user an access token free of charge (no ledger transaction); the token is printed once',
  },
  help: { options: [], synopsis: 'help', summary: 'show this text' },
} as const satisfies Record<string, CommandSpec>

export type CommandName = keyof typeof COMMANDS

export interface CommandLine {
  command: CommandName
  options: Partial<Record<OptionName, string>> & { yes?: boolean }
}

const OPTION_TYPES: Record<OptionName, { type: 'string' | 'boolean' }> = {
  email: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  'full-name': { type: 'string' },
  yes: { type: 'boolean' },
  from: { type: 'string' },
  user: { type: 'string' },
  amount: { type: 'string' },
  reason: { type: 'string' },
  reference: { type: 'string' },
  format: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  token: { type: 'string' },
  message: { type: 'string' },
  hours: { type: 'string' },
  session: { type: 'string' },
  all: { type: 'boolean' },
}

export const isDestructive = (command: CommandName): boolean => 'destructive' in COMMANDS[command]

export function usage(): string {
  const lines = Object.values(COMMANDS).flatMap((c) => [`  ${c.synopsis}`, `      ${c.summary}`])
  return [
    'Zenzefi Backend admin CLI',
    '',
    'usage: npm run cli -- <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'create-superuser also reads ADMIN_EMAIL, ADMIN_USERNAME and ADMIN_PASSWORD (options win);',
    'prefer ADMIN_PASSWORD over --password to keep the password out of shell history and `ps`.',
    'clear-db and reset-db refuse to run with NODE_ENV=production unless --yes is given.',
    'adjust-balance takes a negative amount as --amount -5.50 or --amount=-5.50.',
    'The database comes from the same environment as the server: DATABASE_URL (or POSTGRES_*),',
    'else the embedded PGlite in DATA_DIR (stop the server first: PGlite allows one process at a time).',
    'Exit status: 0 done, 1 failed or refused, 2 bad command line.',
  ].join('\n')
}

const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name)

/** argv after the script name. Errors never echo argument values (one of them may be a password). */
export function parseCommandLine(argv: string[]): CommandLine {
  const [first, ...rest] = argv
  if (first === undefined || first === '--help' || first === '-h') return { command: 'help', options: {} }
  if (!isCommand(first)) {
    throw new CliError(first.startsWith('-') ? 'a command must come first' : `unknown command: ${first.slice(0, 40)}`, EXIT_USAGE, true)
  }
  if (rest.includes('--help') || rest.includes('-h')) return { command: 'help', options: {} }
  const allowed: readonly OptionName[] = COMMANDS[first].options
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: withNegativeValues(rest, allowed),
      options: Object.fromEntries(allowed.map((name) => [name, OPTION_TYPES[name]])),
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    throw new CliError(`${first}: ${describeParseError(err)}`, EXIT_USAGE)
  }
  if (parsed.positionals.length > 0) throw new CliError(`${first}: unexpected argument (options are written --name value)`, EXIT_USAGE)
  return { command: first, options: parsed.values as CommandLine['options'] }
}

/**
 * `--amount -5.50` as `--amount=-5.50`: parseArgs takes a value starting with a dash for an
 * option of its own, and no option here is a dash followed by a digit.
 */
function withNegativeValues(args: string[], allowed: readonly OptionName[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const next = args[i + 1]
    const name = arg.startsWith('--') ? arg.slice(2) : ''
    if ((allowed as readonly string[]).includes(name) && OPTION_TYPES[name as OptionName].type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string }
  const message = e.message ?? String(err)
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = /option '([^']*)'/i.exec(message)?.[1]
    return `unknown option ${name ?? ''}`.trim()
  }
  // Node's messages name the option, never its value; keep the first sentence.
  return message.split('\n')[0]!
}
