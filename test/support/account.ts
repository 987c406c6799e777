// The account page as a browser without JavaScript would use it: the real Node server on a port
// that both origins name (BACKEND_URL http://localhost:P, ACCOUNT_URL http://127.0.0.1:P, the
// development default), and a client with a cookie jar that sends what a browser's form sends.

import { freePort, type Gateway, startGateway } from './gateway'
import type { TestDatabase } from './harness'
import { recordSecret } from './log-scan'

export async function startAccountGateway(opts: { database: TestDatabase; upstream: { url: string; caFile?: string }; env?: Record<string, string> }) {
  const port = await freePort()
  const gw = await startGateway({
    database: opts.database,
    upstream: opts.upstream,
    port,
    env: { BACKEND_URL: `http://localhost:${port}`, ACCOUNT_URL: `http://127.0.0.1:${port}`, ...opts.env },
  })
  return Object.assign(gw, { accountUrl: `http://127.0.0.1:${port}`, backendUrl: `http://localhost:${port}` })
}

export type AccountGateway = Awaited<ReturnType<typeof startAccountGateway>>

export interface Answer {
  status: number
  headers: Headers
  text: string
  location: string | null
}

/** A browser-like client of one origin: keeps cookies, follows nothing by itself, says its requests are same-origin. */
export function accountClient(origin: string) {
  const jar = new Map<string, string>()
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq)
      const value = pair!.slice(eq + 1)
      if (/max-age=0/i.test(line) || value === '') jar.delete(name)
      else {
        jar.set(name, value)
        recordSecret(value, 'account session cookie')
      }
    }
  }
  const send = async (method: string, path: string, init: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> => {
    const headers = new Headers(init.headers)
    if (!headers.has('sec-fetch-site') && method !== 'GET') headers.set('sec-fetch-site', 'same-origin')
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
    let body: string | undefined
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded')
      body = new URLSearchParams(init.form).toString()
    }
    const res = await fetch(`${origin}${path}`, { method, headers, body, redirect: 'manual' })
    remember(res)
    return { status: res.status, headers: res.headers, text: await res.text(), location: res.headers.get('location') }
  }
  return {
    jar,
    get: (path: string, headers?: Record<string, string>) => send('GET', path, { headers }),
    post: (path: string, form: Record<string, string> = {}, headers?: Record<string, string>) => send('POST', path, { form, headers }),
    /** Hidden input values of the last page, by name (a form's Idempotency key). */
    hidden(html: string, name: string): string[] {
      return [...html.matchAll(new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`, 'g'))].map((m) => m[1]!)
    },
  }
}

/** Registers through the page and comes back signed in. */
export async function registerOnPage(gw: AccountGateway, account: { email: string; username: string; password: string }) {
  recordSecret(account.password, 'password')
  const client = accountClient(gw.accountUrl)
  const res = await client.post('/register', { email: account.email, username: account.username, password: account.password })
  if (res.status !== 303) throw new Error(`register failed: ${res.status} ${res.text.slice(0, 300)}`)
  return client
}

export type { Gateway }
