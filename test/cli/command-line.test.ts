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
