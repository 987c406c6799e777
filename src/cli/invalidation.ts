import type { TokenCache } from '../cache/interface'

/** How far an invalidation from this process reaches: all instances through a shared cache, else only after servers' short local TTL. */
export const reach = (kind: TokenCache['kind']): string =>
  kind === 'memory'
    ? 'by servers within seconds (no shared cache configured: a running server forgets its cached grants after 5 s)'
    : `from the next request on every instance (invalidation published via ${kind})`
