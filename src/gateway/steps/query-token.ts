// `?token=` on a page: set the access cookie and send the browser to the same URL
// without the token (303), so the token leaves the address bar and the history.
// Checking it does not start the token's clock.
import type { TokenService } from '../../services/tokens'
import { detailReply, INVALID_QUERY_TOKEN } from '../answers'
import { type CookieRedirectDeps, cookieRedirect } from '../cookie-redirect'
import type { ProxyRequest, Step } from '../pipeline'
import { tokenParam } from '../token-source'

export function queryToken(deps: CookieRedirectDeps & { tokens: TokenService }): Step {
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
    return cookieRedirect(deps, req, token, grant)
  }
}
