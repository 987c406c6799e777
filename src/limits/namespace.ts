// RATE_LIMIT_NAMESPACE: deployments (or test runs) that share one Redis keep their
// limits apart. Keys are renamed at the limiter's boundary, so the policies never
// need to know.
import type { Charge, Limiter } from './interface'
import { LIMIT_KEY_PREFIX } from './interface'

export function namespaced(limiter: Limiter | null, namespace: string): Limiter | null {
  if (!limiter || namespace === '') return limiter
  const rename = (key: string) =>
    key.startsWith(LIMIT_KEY_PREFIX) ? `${LIMIT_KEY_PREFIX}${namespace}:${key.slice(LIMIT_KEY_PREFIX.length)}` : `${namespace}:${key}`
  return {
    kind: limiter.kind,
    apply: (charges: Charge[], mode, now) =>
      limiter.apply(
        charges.map((c) => ({ ...c, key: rename(c.key) })),
        mode,
        now,
      ),
    reset: (keys: string[]) => limiter.reset(keys.map(rename)),
    close: () => limiter.close(),
  }
}
