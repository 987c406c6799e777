// The account page's sign-in cookie. `__Host-` makes the browser refuse it unless it is Secure,
// host-only (no Domain) and Path=/, so no sibling host or path can plant or shadow it. HttpOnly:
// no script reads it. SameSite=Lax: no other site's request carries it, Zenzefi's pages included.

export const SESSION_COOKIE = '__Host-zz_session'

export const sessionCookie = (secret: string, maxAgeSeconds: number) =>
  `${SESSION_COOKIE}=${secret}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Lax`

export const clearedSessionCookie = () => `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`
