import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { Log, LogLevel, Miniflare } from 'miniflare'

export const WORKER_OUTDIR = 'dist/worker'
export const WORKER_BUNDLE = join(WORKER_OUTDIR, 'main.js')

/**
 * `npm run build:worker`: wrangler's offline dry-run bundle, into `outdir`. Built
 * aside and renamed into place, so a Miniflare (or a second build running at the
 * same time) never reads a half-written bundle. Returns the bundle's path.
 */
export function buildWorker(outdir: string = WORKER_OUTDIR): string {
  const staging = `${outdir}.building-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', staging], {
      stdio: 'pipe',
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    })
    if (!existsSync(join(staging, 'main.js')) || statSync(join(staging, 'main.js')).size === 0) throw new Error('wrangler produced no bundle')
    mkdirSync(outdir, { recursive: true })
    // The source map first: whoever sees the new main.js also finds its map.
    for (const name of readdirSync(staging).sort((a, b) => Number(a === 'main.js') - Number(b === 'main.js'))) {
      renameSync(join(staging, name), join(outdir, name))
    }
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string }
    throw new Error(`wrangler build failed: ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`)
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  return join(outdir, 'main.js')
}

/** compatibility_date and compatibility_flags from wrangler.toml, so Miniflare runs the bundle as a deploy would. */
export function wranglerCompatibility(file = 'wrangler.toml'): { compatibilityDate: string; compatibilityFlags: string[] } {
  const toml = readFileSync(file, 'utf8')
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1]
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1]
  if (!date) throw new Error(`${file} has no compatibility_date`)
  return { compatibilityDate: date, compatibilityFlags: [...(flags ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]!) }
}

/** PEM certificates in a file (a CA bundle may hold several). */
export function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

/** What Miniflare's default trust store adds from NODE_EXTRA_CA_CERTS, kept when we replace it. */
function nodeExtraCaCerts(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (!file) return []
  try {
    return pemCertificates(readFileSync(file, 'utf8'))
  } catch {
    return []
  }
}

function drain(stdout: Readable, stderr: Readable) {
  stdout.resume()
  stderr.resume()
}

export interface StartWorkerOptions {
  host?: string
  /** 0 (the default) picks a free port. */
  port?: number
  /**
   * Extra CAs workerd trusts for outbound TLS (ZENZEFI_CA_FILE). workerd's fetch
   * takes no per-request CA, but Miniflare's outbound "network" service has a
   * trust store: this replaces Miniflare's default one with the same network
   * rules and these certificates added.
   */
  trustedCertificates?: string[]
  /** Print the worker's console output (its JSON log lines). */
  log?: boolean
  bundle?: string
}

/** The built bundle in Miniflare (workerd), on a real loopback port, with the server's environment contract. */
export async function startWorker(bindings: Record<string, string>, opts: StartWorkerOptions = {}) {
  const mf = new Miniflare({
    scriptPath: opts.bundle ?? WORKER_BUNDLE,
    modules: true,
    ...wranglerCompatibility(),
    bindings,
    // Offline: Miniflare's placeholder request.cf instead of downloading Cloudflare's sample (the app doesn't read it).
    cf: false,
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    // Worker console output: shown by start:worker (and with WORKER_LOG=1 in tests), drained otherwise.
    // (Miniflare's own lines at WARN and up: the app already logs every request as JSON.)
    log: opts.log ? new Log(LogLevel.WARN) : undefined,
    handleRuntimeStdio: opts.log || process.env.WORKER_LOG ? undefined : drain,
    ...(opts.trustedCertificates?.length
      ? {
          outboundService: {
            network: {
              // Miniflare's own defaults ("internet" service), plus our CAs.
              allow: ['public', 'private', '240.0.0.0/4'],
              deny: [],
              tlsOptions: { trustBrowserCas: true, trustedCertificates: [...nodeExtraCaCerts(), ...opts.trustedCertificates] },
            },
          },
        }
      : {}),
  })
  const url = await mf.ready
  return { mf, url: url.origin, close: () => mf.dispose() }
}

export type RunningWorker = Awaited<ReturnType<typeof startWorker>>
