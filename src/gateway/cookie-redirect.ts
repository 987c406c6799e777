// The answer that trades a credential in the URL (`?token=`, `?launch=`) for the access cookie:
// 303 to the same URL without it, so it leaves the address bar and the history. The cookie lasts
// as long as the token has left, counted without starting its clock (authorize does that on the
// next proxied request).
import type { TokenGrant } from '../cache/interface'
import type { Config } from '../config'
import type { Reply } from './answers'
import { accessCookie } from './cookie'
import { deviceCookie, newDeviceCookieValue, wantsDeviceCookie } from './device'
import type { MapperSelector } from './mappers'
import type { ProxyRequest } from './pipeline'
import { withoutCredentialParams } from './token-source'

export interface CookieRedirectDeps {
  config: Config
  mapperFor: MapperSelector
  now: () => number
}

export function cookieRedirect(deps: CookieRedirectDeps, req: ProxyRequest, token: string, grant: TokenGrant): Reply {
  const mapper = deps.mapperFor(req.header('x-local-url'))
  const location = `${mapper.publicBase}${req.path}${withoutCredentialParams(req.search)}`
  const maxAge = grant.expiresAt === null ? grant.durationHours * 3600 : (grant.expiresAt - deps.now()) / 1000
  // no-store: no cache may keep an answer that carries the token.
  const headers = ['Location', location, 'Set-Cookie', accessCookie(token, maxAge, deps.config), 'Cache-Control', 'no-store']
  // The browser's device cookie before its first proxied page, so that every request after it is told apart by it.
  if (wantsDeviceCookie(req)) headers.push('Set-Cookie', deviceCookie(newDeviceCookieValue(), deps.config))
  return { status: 303, headers, body: '' }
}
