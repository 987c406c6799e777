// The account page's headers: scripts and styles from this origin only (no inline script, so an
// injected tag does nothing), never framed, its own browsing-context group (COOP: a Zenzefi window
// that opened it gets no handle on it), nothing cached, no Referer carried away.

import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../http/router'

/** Where the page's forms may lead: itself, the proxy ("Open Zenzefi"), and the payment page. */
export function accountHeaders(opts: { backendUrl: string; paymentOrigins: string[]; https: boolean }) {
  const formAction = ["'self'", new URL(opts.backendUrl).origin, ...opts.paymentOrigins].join(' ')
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ')
  return createMiddleware<AppEnv>(async (c, next) => {
    await next()
    const h = c.res.headers
    h.set('Content-Security-Policy', csp)
    h.set('Cross-Origin-Opener-Policy', 'same-origin')
    h.set('Cross-Origin-Resource-Policy', 'same-origin')
    h.set('X-Frame-Options', 'DENY')
    h.set('X-Content-Type-Options', 'nosniff')
    h.set('Referrer-Policy', 'no-referrer')
    h.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()')
    if (!h.has('Cache-Control')) h.set('Cache-Control', 'no-store')
    if (opts.https) h.set('Strict-Transport-Security', 'max-age=31536000')
  })
}
