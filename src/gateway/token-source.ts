// Where a proxy request's access token comes from, in the contract's order.

export const COOKIE_NAME = 'zenzefi_access_token'

export type TokenSource = 'cookie' | 'header' | 'query'

/** The value of one cookie in a Cookie header, without parsing the rest. */
export function readCookie(cookieHeader: string | null | undefined, name: string): string | null {
  if (!cookieHeader) return null
  let i = 0
  while (i < cookieHeader.length) {
    const semi = cookieHeader.indexOf(';', i)
    const end = semi === -1 ? cookieHeader.length : semi
    const eq = cookieHeader.indexOf('=', i)
    if (eq !== -1 && eq < end && cookieHeader.slice(i, eq).trim() === name) {
      const v = cookieHeader.slice(eq + 1, end).trim()
      return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v
    }
    i = end + 1
  }
  return null
}

/** The Cookie header without our cookie, or null when nothing else is left. */
export function stripCookie(cookieHeader: string, name: string): string | null {
  if (!cookieHeader.includes(name)) return cookieHeader
  const kept = cookieHeader
    .split(';')
    .filter((part) => {
      const eq = part.indexOf('=')
      return (eq === -1 ? part : part.slice(0, eq)).trim() !== name
    })
    .map((p) => p.trim())
    .filter(Boolean)
  return kept.length ? kept.join('; ') : null
}

function decodedKey(pair: string): string {
  const key = pair.split('=')[0]!.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(key)
  } catch {
    return key // a broken %-escape can't spell `token`
  }
}

/** The query string without its `token` and `launch` parameters (our credentials), other parameters byte for byte. */
export function withoutCredentialParams(search: string): string {
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => {
      if (pair === '') return false
      const key = decodedKey(pair)
      return key !== 'token' && key !== 'launch'
    })
  return kept.length ? `?${kept.join('&')}` : ''
}

/** The `?token=` value, or null. */
export function tokenParam(search: string): string | null {
  if (!search.includes('token=')) return null
  return new URLSearchParams(search).get('token')
}

/**
 * The `?launch=` code (account page), or null. Any spelling that decodes to `launch` counts
 * (`%6Caunch`, a bare `launch`): what Zenzefi would read as `launch` must never reach it.
 */
export function launchParam(search: string): string | null {
  if (!search.includes('launch') && !search.includes('%')) return null
  return new URLSearchParams(search).get('launch')
}

export interface PresentedToken {
  token: string
  source: TokenSource
}

/** HTTP requests: cookie, then X-Access-Token. */
export function tokenFromRequest(get: (name: string) => string | null | undefined): PresentedToken | null {
  const cookie = readCookie(get('cookie'), COOKIE_NAME)
  if (cookie) return { token: cookie, source: 'cookie' }
  const header = get('x-access-token')?.trim()
  if (header) return { token: header, source: 'header' }
  return null
}

/** WebSocket upgrades: `?token=`, then the cookie, then X-Access-Token. */
export function upgradeToken(search: string, get: (name: string) => string | null | undefined): PresentedToken | null {
  const query = tokenParam(search)
  if (query) return { token: query, source: 'query' }
  return tokenFromRequest(get)
}
