// `?launch=<code>` from the account page's "Open Zenzefi": the code is spent for the token it
// names, and the browser gets the same 303 with the access cookie as for `?token=`, so no token
// is ever in a URL. HTTP only: an upgrade's `?launch=` is no credential (token-source ignores it,
// upstream-plan drops it), so a code can't be spent where no cookie can be set.
import type { LaunchCodes } from '../../services/launch-codes'
import type { TokenService } from '../../services/tokens'
import { detailReply, INVALID_LAUNCH_CODE } from '../answers'
import { type CookieRedirectDeps, cookieRedirect } from '../cookie-redirect'
import type { ProxyRequest, Step } from '../pipeline'
import { launchParam } from '../token-source'

export function launchCode(deps: CookieRedirectDeps & { codes: LaunchCodes; tokens: TokenService }): Step {
  return {
    name: 'launch-code',
    on: 'http',
    // Synchronous unless the query may hold `launch`: almost every request pays no await here.
    run({ req }) {
      const code = launchParam(req.search)
      if (code === null) return
      return redeem(code, req)
    },
  }

  async function redeem(code: string, req: ProxyRequest) {
    const token = await deps.codes.redeem(code)
    // checkStatus, not authorize: the clock starts on the page this redirect leads to.
    const grant = token === null ? null : await deps.tokens.checkStatus(token)
    if (token === null || !grant) return detailReply(401, INVALID_LAUNCH_CODE)
    return cookieRedirect(deps, req, token, grant)
  }
}
