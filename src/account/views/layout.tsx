// The frame of every account page: one stylesheet and one script from this origin, no inline
// script or style (the CSP allows neither), and a header with the signed-in user's way out.
import { raw } from 'hono/html'
import type { Child } from 'hono/jsx'
import type { UserRow } from '../../db/schema'
import { ASSET_PATHS } from '../assets'

export function Layout(props: { title: string; user?: UserRow | null; children?: Child }) {
  const { user } = props
  // The doctype: without it the browser lays the page out in quirks mode (forms get a bottom margin, and more).
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${props.title} — Zenzefi`}</title>
          <link rel="stylesheet" href={ASSET_PATHS.css} />
          <script src={ASSET_PATHS.js} defer />
        </head>
        <body>
          <header>
            <a class="brand" href="/">
              Zenzefi
            </a>
            {user ? (
              <nav>
                <a href="/">Account</a>
                {user.isSuperuser ? <a href="/admin">Admin</a> : null}
                <span class="who">{user.username}</span>
                <form method="post" action="/logout" class="inline">
                  <button type="submit" class="link">
                    Log out
                  </button>
                </form>
              </nav>
            ) : null}
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </>
  )
}

/** A notice or an error above a page's content; role=alert so screen readers say it. */
export function Message(props: { error?: string | null; notice?: string | null }) {
  if (props.error)
    return (
      <p class="error" role="alert">
        {props.error}
      </p>
    )
  if (props.notice)
    return (
      <p class="notice" role="status">
        {props.notice}
      </p>
    )
  return null
}

/** A time as UTC to the minute (or second), machine-readable in `datetime`. */
export function When(props: { at: Date; seconds?: boolean }) {
  const iso = props.at.toISOString()
  return <time datetime={iso}>{iso.slice(0, props.seconds ? 19 : 16).replace('T', ' ')}</time>
}
