// The fake provider's checkout (PAYMENT_PROVIDER=fake, development only; never mounted in
// production): a plain HTML page with one form, so it works without JavaScript.

import { Hono } from 'hono'
import type { AppEnv } from '../http/router'
import { formatMinor } from '../money/znc'
import type { FakeProvider } from '../payments/fake'
import type { Payments } from '../services/payments'

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title>` +
  `<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}button{font:inherit;padding:.6rem 1.4rem}</style></head>` +
  `<body><p><strong>Test payment</strong> — development provider, no money moves.</p>${body}</body></html>`

export function fakeCheckoutRoutes(deps: { fake: FakeProvider; payments: Payments }) {
  const { fake, payments } = deps
  const router = new Hono<AppEnv>()
  router.get('/:id', async (c) => {
    const p = await fake.find(c.req.param('id'))
    if (!p) return c.json({ detail: 'Payment not found' }, 404)
    const amount = `${formatMinor(p.amountMinor)} ${escapeHtml(p.currency)}`
    const body =
      p.status === 'pending'
        ? `<h1>Pay ${amount}</h1><p>${escapeHtml(p.description)}</p><form method="post"><button type="submit">Pay ${amount}</button></form>`
        : `<h1>Payment ${escapeHtml(p.status)}</h1><p>${escapeHtml(p.description)}</p><p><a href="${escapeHtml(p.returnUrl)}">Back</a></p>`
    // Pay redirects back to the return URL, and browsers hold form-action to redirects too: allow that origin.
    const csp = HEADERS['content-security-policy'].replace("form-action 'self'", `form-action 'self' ${new URL(p.returnUrl).origin}`)
    return c.body(page(`Pay ${formatMinor(p.amountMinor)} ${p.currency}`, body), 200, { ...HEADERS, 'content-security-policy': csp })
  })
  router.post('/:id', async (c) => {
    const id = c.req.param('id')
    const p = await fake.find(id)
    if (!p) return c.json({ detail: 'Payment not found' }, 404)
    await fake.pay(id)
    // The same confirmation path as a real provider's notification: ask the provider, then credit.
    await payments.syncByProviderId(id)
    return c.redirect(p.returnUrl, 303)
  })
  return router
}
