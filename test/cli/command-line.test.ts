import { describe, expect, it } from 'vitest'
import { COMMANDS, parseCommandLine } from '../../src/cli/command-line'
import { runCli } from '../../src/cli/run'
import { TEST_SECRET } from '../support/harness'
import { capture } from './output'

// Nothing here may reach a database: DATABASE_URL points at a closed port, so a command that
// got as far as connecting would fail with "unreachable" instead of the answer asserted.
const env = { SECRET_KEY: TEST_SECRET, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' }
async function run(argv: string[], extra: Record<string, string> = {}) {
  const io = capture()
  const code = await runCli(argv, { env: { ...env, ...extra }, io })
  return { code, ...io }
}

describe('usage', () => {
  it.each([[[]], [['help']], [['--help']], [['check-db', '--help']]])('%j prints the usage text listing every command, exit 0', async (argv) => {
    const r = await run(argv)
    expect(r.code).toBe(0)
    const text = r.stdout.join('\n')
    for (const name of Object.keys(COMMANDS)) expect(text).toContain(`\n  ${name}`)
    expect(r.stderr).toEqual([])
  })

  it('answers an unknown command with the usage text on stderr, exit 2', async () => {
    const r = await run(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr[0]).toBe('unknown command: frobnicate')
    expect(r.stderr.join('\n')).toContain('usage: npm run cli -- <command> [options]')
    expect(r.stdout).toEqual([])
  })

  it('refuses options a command does not take, and stray arguments, without echoing their values (exit 2)', async () => {
    const typo = await run(['create-superuser', '--pasword=hunter2hunter2', '--email', 'a@example.com'])
    expect(typo.code).toBe(2)
    expect(typo.stderr[0]).toBe('create-superuser: unknown option --pasword')
    expect(typo.all()).not.toContain('hunter2hunter2')

    const stray = await run(['deactivate-user', 'hunter2hunter2'])
    expect(stray.code).toBe(2)
    expect(stray.all()).not.toContain('hunter2hunter2')

    expect((await run(['check-db', '--yes'])).stderr[0]).toBe('check-db: unknown option --yes')
    expect((await run(['deactivate-user', '--email'])).stderr[0]).toMatch(/^deactivate-user: Option '--email <value>' argument missing/)
  })

  it('reads --name value and --name=value alike', () => {
    expect(parseCommandLine(['create-superuser', '--email=a@example.com', '--username', 'admin', '--full-name', 'Ada L'])).toEqual({
      command: 'create-superuser',
      options: { email: 'a@example.com', username: 'admin', 'full-name': 'Ada L' },
    })
    expect(parseCommandLine(['reset-db', '--yes'])).toEqual({ command: 'reset-db', options: { yes: true } })
  })

  it('takes a negative amount after --amount as its value, written either way', () => {
    for (const argv of [
      ['adjust-balance', '--user', 'a@example.com', '--amount', '-5.50', '--reason', 'r e'],
      ['adjust-balance', '--user', 'a@example.com', '--amount=-5.50', '--reason', 'r e'],
    ]) {
      expect(parseCommandLine(argv)).toEqual({ command: 'adjust-balance', options: { user: 'a@example.com', amount: '-5.50', reason: 'r e' } })
    }
    // Only for options that take a value: anything else stays an unknown option.
    expect(() => parseCommandLine(['ledger-check', '-5'])).toThrow(/ledger-check: unknown option/)
  })

  it('lists the options of every command in the usage text', async () => {
    const text = (await run(['help'])).stdout.join('\n')
    expect(text).toContain('  import-python-backend --from postgres://…')
    expect(text).toContain('  adjust-balance --user EMAIL|ID --amount ±ZNC --reason TEXT [--reference KEY]')
    expect(text).toContain('  ledger-check\n')
    expect(text).toContain('  payments-reconcile\n')
  })
})

describe('bad input to the money commands, refused before opening anything (exit 2)', () => {
  const adjust = (...extra: string[]) => ['adjust-balance', '--user', 'a@example.com', '--reason', 'Goodwill', ...extra]

  it.each([
    ['no --amount', adjust(), 'adjust-balance: missing --amount'],
    ['nothing at all', ['adjust-balance'], 'adjust-balance: missing --user, --amount, --reason'],
    [
      'a zero amount',
      adjust('--amount', '0.00'),
      'adjust-balance: --amount must be a non-zero amount of ZNC with at most two decimals, such as 25.00 or -5.50',
    ],
    [
      'a third decimal',
      adjust('--amount', '1.005'),
      'adjust-balance: --amount must be a non-zero amount of ZNC with at most two decimals, such as 25.00 or -5.50',
    ],
    ['a word', adjust('--amount', 'ten'), 'adjust-balance: --amount must be a non-zero amount of ZNC with at most two decimals, such as 25.00 or -5.50'],
    ['an exponent', adjust('--amount', '1e3'), 'adjust-balance: --amount must be a non-zero amount of ZNC with at most two decimals, such as 25.00 or -5.50'],
    [
      'a two-letter reason',
      ['adjust-balance', '--user', 'a@example.com', '--amount', '1', '--reason', ' ok '],
      'adjust-balance: --reason must be 3 to 500 characters (the user sees it)',
    ],
    [
      'a control character in the reason',
      ['adjust-balance', '--user', 'a@example.com', '--amount', '1', '--reason', 'bad\u001breason'],
      'adjust-balance: --reason must not contain control characters (U+0000–U+001F, U+007F)',
    ],
    [
      'a reference with a space',
      adjust('--amount', '1', '--reference', 'two words'),
      'adjust-balance: --reference must be 1 to 255 printable ASCII characters without spaces',
    ],
    ['import-python-backend without --from', ['import-python-backend'], 'import-python-backend: missing --from <postgres url of the earlier backend>'],
  ])('%s', async (_, argv, message) => {
    const r = await run(argv)
    expect(r.stderr).toEqual([message, 'run `npm run cli -- help` for usage'])
    expect(r.code).toBe(2)
    expect(r.stdout).toEqual([])
  })
})

describe('before opening anything', () => {
  it('refuses a destructive command in production even before the configuration is read', async () => {
    // No SECRET_KEY: had the CLI loaded the production config first, this would be a configuration error.
    const r = await run(['reset-db'], { NODE_ENV: 'production', SECRET_KEY: '' })
    expect(r.code).toBe(1)
    expect(r.stderr).toEqual(['refusing to run reset-db with NODE_ENV=production: it destroys data; pass --yes to confirm'])
  })

  it('rejects bad create-superuser input without touching the database, never printing the password', async () => {
    const r = await run(['create-superuser', '--email', 'root@example.com', '--username', 'root', '--password', 'short'])
    expect(r.code).toBe(1)
    expect(r.stderr.join('\n')).toBe('create-superuser: invalid input\n  --password: Password must be at least 8 characters')
    expect(r.all()).not.toContain('short')
  })

  it('reports an unreachable database as such, exit 1, with no stack trace', async () => {
    const r = await run(['check-db'])
    expect(r.code).toBe(1)
    expect(r.stderr).toHaveLength(1)
    expect(r.stderr[0]).toMatch(/^database unreachable: postgres \(postgres:\/\/127\.0\.0\.1:1\/nowhere\): .*ECONNREFUSED/)
  })

  it('reports a configuration error as such', async () => {
    const r = await run(['check-db'], { NODE_ENV: 'production', SECRET_KEY: 'too short' })
    expect(r.code).toBe(1)
    expect(r.stderr).toEqual(['configuration error: SECRET_KEY must be at least 32 characters'])
  })
})
