// `?token=` on a page: set the access cookie and send the browser to the same URL
// without the token (303), so the token leaves the address bar and the history.
// Checking it does not start the token's clock.
import type { Config } from '../../config'
import type { TokenService } from '../../services/tokens'
import { detailReply, INVALID_QUERY_TOKEN } from '../answers'
import { accessCookie } from '../cookie'
import { deviceCookie, newDeviceCookieValue, wantsDeviceCookie } from '../device'
import type { MapperSelector } from '../mappers'
import type { ProxyRequest, Step } from '../pipeline'
import { tokenParam, withoutTokenParam } from '../token-source'

export function queryToken(deps: { config: Config; tokens: TokenService; mapperFor: MapperSelector; now: () => number }): Step {
  return {
    name: 'query-token',
    on: 'http',
    // Synchronous unless there is a `?token=`: almost every request pays no await here.
    run({ req }) {
      const token = tokenParam(req.search)
      if (token === null) return
      return redirect(token, req)
    },
  }

  async function redirect(token: string, req: ProxyRequest) {
    const grant = await deps.tokens.checkStatus(token)
    if (!grant) return detailReply(401, INVALID_QUERY_TOKEN)
    const mapper = deps.mapperFor(req.header('x-local-url'))
    const location = `${mapper.publicBase}${req.path}${withoutTokenParam(req.search)}`
    const maxAge = grant.expiresAt === null ? grant.durationHours * 3600 : (grant.expiresAt - deps.now()) / 1000
    const headers = ['Location', location, 'Set-Cookie', accessCookie(token, maxAge, deps.config), 'Cache-Control', 'no-store']
    // The browser's device cookie before its first proxied page, so that every request after it is told apart by it.
    if (wantsDeviceCookie(req)) headers.push('Set-Cookie', deviceCookie(newDeviceCookieValue(), deps.config))
    return { status: 303, headers, body: '' }
  }
}
