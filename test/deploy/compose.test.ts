// The production deployment as files: docker-compose.yml, deploy/Caddyfile and the Dockerfile say
// what the README promises (HTTPS front, secrets without defaults, health checks on /health/ready,
// a stop grace period longer than the graceful shutdown). Neither Docker nor Caddy has to run here;
// the Caddyfile is also checked by `caddy validate` when caddy is installed (.ci/run installs it).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

const ROOT = new URL('../..', import.meta.url).pathname
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8')

interface Service {
  image?: string
  build?: unknown
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
  healthcheck?: { test: string[] | string }
  restart?: string
  stop_grace_period?: string
  depends_on?: Record<string, { condition: string }>
  networks?: string[] | Record<string, { ipv4_address?: string } | null>
  profiles?: string[]
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>
  networks: Record<string, { internal?: boolean; ipam?: { config: Array<{ subnet: string }> } }>
  volumes: Record<string, unknown>
}
const { app, caddy, postgres, redis } = compose.services as Record<'app' | 'caddy' | 'postgres' | 'redis', Service>

/** Compose durations as used here: "35s", "1m30s". */
function seconds(d: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(d)
  if (!m || d === '') throw new Error(`unexpected duration ${d}`)
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)
}
const healthCommand = (s: Service) => (Array.isArray(s.healthcheck?.test) ? s.healthcheck.test.join(' ') : (s.healthcheck?.test ?? ''))
const networksOf = (s: Service) => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {}))
const ipv4 = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
const inCidr = (ip: string, cidr: string) => {
  const [base, bits] = cidr.split('/') as [string, string]
  const size = 2 ** (32 - Number(bits))
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size)
}

describe('docker-compose.yml', () => {
  it('the app, PostgreSQL, Redis and Caddy; every one restarts on its own and has a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'caddy', 'postgres', 'redis'])
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.restart, name).toBe('unless-stopped')
      expect(healthCommand(s), name).not.toBe('')
    }
    expect(Object.keys(compose.volumes).sort()).toEqual(['caddy_config', 'caddy_data', 'pgdata'])
    expect(postgres.volumes).toContain('pgdata:/var/lib/postgresql/data')
    expect(caddy.volumes).toEqual(expect.arrayContaining(['./deploy/Caddyfile:/etc/caddy/Caddyfile:ro', 'caddy_data:/data', 'caddy_config:/config']))
  })

  it("the app's health check asks /health/ready, and Caddy waits for it", () => {
    expect(healthCommand(app)).toContain('/health/ready')
    expect(healthCommand(app)).toMatch(/^CMD node -e /) // no curl in node:20-bookworm-slim
    expect(caddy.depends_on?.app?.condition).toBe('service_healthy')
    expect(app.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
  })

  it('stop_grace_period is longer than the drain plus SHUTDOWN_TIMEOUT_SECONDS, so docker never kills a shutdown under way', () => {
    const env = app.environment!
    const drain = Number(env.SHUTDOWN_DRAIN_SECONDS)
    const timeout = Number(env.SHUTDOWN_TIMEOUT_SECONDS)
    expect(drain).toBeGreaterThan(0)
    expect(timeout).toBe(25)
    // + 2 s for WebSocket peers to answer the close frames at the deadline.
    expect(seconds(app.stop_grace_period!)).toBeGreaterThan(drain + timeout + 2)
  })

  it('production settings: HTTPS public URL, Secure cookies, NODE_ENV=production', () => {
    const env = app.environment!
    expect(env.NODE_ENV).toBe('production')
    expect(env.COOKIE_SECURE).toBe('true')
    expect(env.BACKEND_URL).toMatch(/^https:\/\/\$\{DOMAIN:\?/)
    expect(env.REDIS_URL).toBe('redis://redis:6379/0')
    expect(env.POSTGRES_SERVER).toBe('postgres')
  })

  it('secrets come from the environment and have no default: compose refuses to start without them', () => {
    const secretLike = /SECRET|PASSWORD|TOKEN|_KEY$/
    let seen = 0
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!secretLike.test(key)) continue
        seen++
        expect(value, `${name}.${key}`).toMatch(new RegExp(`^\\$\\{${key}:\\?[^}]+\\}$`))
      }
    }
    expect(seen).toBe(3) // SECRET_KEY, and POSTGRES_PASSWORD twice (app and postgres)
    // Nowhere in the file does a secret-looking variable get a fallback value.
    expect(read('docker-compose.yml')).not.toMatch(/\$\{[A-Z_]*(SECRET|PASSWORD|TOKEN|KEY)[A-Z_]*:?-/)
    expect(app.environment!.DATABASE_URL).toBeUndefined() // built by the app from POSTGRES_*, password encoded
  })

  it('only Caddy is reachable from outside; X-Forwarded-For is trusted from its fixed address only', () => {
    expect(caddy.ports).toEqual(['80:80', '443:443', '443:443/udp'])
    for (const s of [app, postgres, redis]) expect(s.ports).toBeUndefined()
    expect(compose.networks.back?.internal).toBe(true)
    expect(networksOf(postgres)).toEqual(['back'])
    expect(networksOf(redis)).toEqual(['back'])
    expect(networksOf(app).sort()).toEqual(['back', 'front'])
    const caddyIp = (caddy.networks as Record<string, { ipv4_address: string }>).front!.ipv4_address
    const subnet = compose.networks.front!.ipam!.config[0]!.subnet
    expect(inCidr(caddyIp, subnet)).toBe(true)
    expect(app.environment!.TRUSTED_PROXY_CIDRS).toBe(`${caddyIp}/32`)
  })

  it("Caddy serves DOMAIN (and ACCOUNT_DOMAIN when set); the CA mount for Zenzefi's certificate exists", () => {
    expect(caddy.environment!.DOMAIN).toMatch(/^\$\{DOMAIN:\?/)
    expect(caddy.environment!.ACCOUNT_DOMAIN).toBe('${ACCOUNT_DOMAIN:-}')
    expect(app.environment!.ACCOUNT_URL).toBe('${ACCOUNT_DOMAIN:+https://}${ACCOUNT_DOMAIN:-}')
    expect(app.volumes).toContain('./deploy/certs:/certs:ro')
    expect(existsSync(`${ROOT}deploy/certs`)).toBe(true)
  })
})

describe('deploy/Caddyfile', () => {
  const caddyfile = read('deploy/Caddyfile')
  // The directives, without comments.
  const lines = caddyfile
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)

  it('one site for DOMAIN and ACCOUNT_DOMAIN: HSTS, no Server header, reverse_proxy to the app with readiness checks', () => {
    expect(lines).toContain('{$DOMAIN} {$ACCOUNT_DOMAIN} {')
    expect(lines).toContain('Strict-Transport-Security "max-age=63072000"')
    expect(lines).toContain('-Server')
    expect(lines).toContain('header_down -Server')
    expect(lines).toContain('reverse_proxy app:8000 {')
    expect(lines).toContain('health_uri /health/ready')
    expect(lines).toContain('flush_interval -1')
  })

  it('nothing that would cut a long download or a quiet WebSocket; no access log (query strings carry tokens)', () => {
    for (const l of lines) expect(l).not.toMatch(/^(read_timeout|write_timeout|read_body|write|log)\b/)
    expect(lines).toContain('read_header 30s')
    expect(lines).toContain('grace_period 30s')
  })

  const caddy = (() => {
    try {
      return execFileSync('sh', ['-c', 'command -v caddy'], { encoding: 'utf8' }).trim() || null
    } catch {
      return null
    }
  })()
  it.skipIf(!caddy)('caddy validate accepts it, with and without ACCOUNT_DOMAIN', () => {
    for (const env of [{ DOMAIN: 'zenzefi.example.com' }, { DOMAIN: 'zenzefi.example.com', ACCOUNT_DOMAIN: 'account.example.com' }]) {
      const out = execFileSync(caddy!, ['validate', '--config', 'deploy/Caddyfile', '--adapter', 'caddyfile'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      expect(out).toContain('Valid configuration')
    }
  })
})

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile')
  it('built to JavaScript, run by node as the non-root `node` user, with a HEALTHCHECK on /health/ready', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m)
    expect(dockerfile).toMatch(/^RUN node scripts\/build-node\.mjs/m)
    // The container runs the server as `npm start` does, with the same node flags.
    const start = JSON.parse(read('package.json')).scripts.start as string
    const flags = /node ((?:--\S+ )*)dist\/node\/main\.mjs$/.exec(start)![1]!.trim().split(' ')
    expect(flags).toContain('--enable-source-maps')
    expect(JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!)).toEqual(['node', ...flags, 'dist/node/main.mjs'])
    const user = dockerfile.search(/^USER node$/m)
    expect(user).toBeGreaterThan(-1)
    expect(user).toBeLessThan(dockerfile.search(/^CMD /m))
    expect(dockerfile).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "-e", "fetch\('http:\/\/127\.0\.0\.1:'[^\n]*\/health\/ready'\)/m)
    expect(dockerfile).toMatch(/^STOPSIGNAL SIGTERM$/m)
  })
})
