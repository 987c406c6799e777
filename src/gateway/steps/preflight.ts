// CORS preflights carry no credentials, so the gateway answers them rather than Zenzefi.
import type { corsPolicy } from '../cors'
import type { Step } from '../pipeline'

export function preflight(cors: ReturnType<typeof corsPolicy>): Step {
  return {
    name: 'preflight',
    on: 'http',
    run({ req, corsOrigin }) {
      if (req.method !== 'OPTIONS' || !req.header('access-control-request-method')) return
      return { status: 204, headers: cors.preflightHeaders(corsOrigin, req.header('access-control-request-headers')), body: '' }
    },
  }
}
