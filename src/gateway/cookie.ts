import type { Config } from '../config'
import { COOKIE_NAME } from './token-source'

type CookieConfig = Pick<Config, 'cookieSecure' | 'cookieSameSite'>

/** Set-Cookie for the access token, as the earlier backend wrote it. */
export function accessCookie(token: string, maxAgeSeconds: number, config: CookieConfig): string {
  return (
    `${COOKIE_NAME}=${token}; HttpOnly; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; SameSite=${config.cookieSameSite}` +
    (config.cookieSecure ? '; Secure' : '')
  )
}

export function clearedCookie(config: CookieConfig): string {
  return (
    `${COOKIE_NAME}=""; HttpOnly; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=${config.cookieSameSite}` +
    (config.cookieSecure ? '; Secure' : '')
  )
}
