// Where the client reaches Zenzefi through us, and how an upstream URL maps there.
// Direct mode: BACKEND_URL + /api/v1/proxy. Desktop mode (X-Local-Url from the
// desktop client's local proxy): that loopback origin with no prefix.

export const PROXY_PREFIX = '/api/v1/proxy'

export interface UrlMapper {
  readonly desktop: boolean
  /** Path prefix root-relative URLs need ('' in desktop mode). */
  readonly prefix: string
  /** Public origin + prefix, e.g. `http://gw.example/api/v1/proxy` or `https://127.0.0.1:61000`. */
  readonly publicBase: string
  /** Upstream origins (http(s) and ws(s) spellings) that absolute URLs are recognised by. */
  readonly upstreamOrigins: readonly string[]
  /** One URL as found in a header, attribute or script; anything that isn't ours comes back unchanged. Idempotent. */
  map(url: string): string
  /** An absolute upstream URL only (for text where root-relative strings are ambiguous). */
  mapAbsolute(url: string): string
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** X-Local-Url is accepted only as a loopback http(s) origin: the desktop client's local proxy. */
export function parseLocalUrl(value: string | null | undefined): string | null {
  if (!value) return null
  try {
    const u = new URL(value)
    if ((u.protocol !== 'https:' && u.protocol !== 'http:') || !LOOPBACK_HOSTS.has(u.hostname)) return null
    if (u.username || u.password) return null
    return u.origin
  } catch {
    return null
  }
}

const wsOf = (origin: string) => origin.replace(/^http/, 'ws')

export function createUrlMapper(opts: { upstream: string; backendUrl: string; localUrl: string | null }): UrlMapper {
  const up = new URL(opts.upstream)
  const desktop = opts.localUrl !== null
  const publicOrigin = desktop ? opts.localUrl! : new URL(opts.backendUrl).origin
  const backendPath = desktop ? '' : new URL(opts.backendUrl).pathname.replace(/\/+$/, '')
  const prefix = desktop ? '' : backendPath + PROXY_PREFIX
  const publicBase = publicOrigin + prefix
  const upstreamOrigins = [up.origin, wsOf(up.origin)]
  const hostPart = up.host // host[:port]

  const withPrefix = (path: string) => {
    if (!prefix) return path
    if (path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`) || path.startsWith(`${prefix}#`)) return path
    return prefix + path
  }

  const mapAbsolute = (url: string): string => {
    for (const origin of upstreamOrigins) {
      if (url.length >= origin.length && url.slice(0, origin.length).toLowerCase() === origin.toLowerCase()) {
        const rest = url.slice(origin.length)
        if (rest !== '' && !'/?#'.includes(rest[0]!)) continue // a longer host, e.g. :610001
        const ws = origin.startsWith('ws')
        const base = ws ? wsOf(publicOrigin) : publicOrigin
        return base + withPrefix(rest.startsWith('/') ? rest : `/${rest}`)
      }
    }
    // Protocol-relative //host:port/...
    if (url.startsWith('//') && url.slice(2, 2 + hostPart.length).toLowerCase() === hostPart.toLowerCase()) {
      const rest = url.slice(2 + hostPart.length)
      if (rest === '' || '/?#'.includes(rest[0]!)) {
        return `//${new URL(publicOrigin).host}${withPrefix(rest.startsWith('/') ? rest : `/${rest}`)}`
      }
    }
    return url
  }

  return {
    desktop,
    prefix,
    publicBase,
    upstreamOrigins,
    mapAbsolute,
    map(url) {
      const trimmed = url.trim()
      if (trimmed.startsWith('/') && !trimmed.startsWith('//') && !trimmed.startsWith('/\\')) return withPrefix(trimmed)
      return mapAbsolute(trimmed)
    },
  }
}

/** A Refresh value (`<meta http-equiv="refresh">` or the header), e.g. `5; url=/x`: only the URL part is mapped. */
export function mapRefresh(content: string, mapper: UrlMapper): string {
  const m = /^(\s*\d[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(["']?)(.*?)(\2\s*)$/is.exec(content)
  if (!m?.[3]) return content
  return m[1]! + m[2]! + mapper.map(m[3]) + m[4]!
}
