// A refusal from a service (402 insufficient balance, 429, a provider outage…) shown as the
// customer's page again, with the message on top and the refusal's status.
import type { Context } from 'hono'
import { toHttpError } from '../http/errors'
import type { AppEnv } from '../http/router'
import { type HomeDeps, homeData } from './routes/home'
import { HomePage } from './views/home'

export function pageRefusal(home: HomeDeps) {
  return async (c: Context<AppEnv>, err: unknown): Promise<Response> => {
    const known = toHttpError(err)
    if (!known) throw err
    return c.html(<HomePage data={await homeData(home, c.get('user'))} error={known.detail} />, known.status, known.headers)
  }
}
