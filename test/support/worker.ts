import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { Miniflare } from 'miniflare'

export const WORKER_BUNDLE = 'dist/worker/worker.js'

/** Builds the worker bundle with wrangler (offline), once per test run unless it is fresher than src/. */
export function buildWorker(): string {
  execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', 'dist/worker'], {
    stdio: 'pipe',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
  })
  if (!existsSync(WORKER_BUNDLE) || statSync(WORKER_BUNDLE).size === 0) throw new Error('wrangler produced no bundle')
  return WORKER_BUNDLE
}

/** The built bundle in Miniflare (workerd), on a real loopback port, with the server's environment contract. */
export async function startWorker(bindings: Record<string, string>) {
  const mf = new Miniflare({
    scriptPath: WORKER_BUNDLE,
    modules: true,
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['nodejs_compat'],
    bindings,
    host: '127.0.0.1',
    port: 0,
  })
  const url = await mf.ready
  return { mf, url: url.origin, close: () => mf.dispose() }
}
