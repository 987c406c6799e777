// The account page's one script and one stylesheet, hand-written and small, kept here as strings so
// the same bundle serves them on Node and Workers. Served from this origin only (the CSP's 'self').
// The script is an enhancement: every action is a form that works without it.

export const ASSET_PATHS = { js: '/assets/account.js', css: '/assets/account.css' } as const

export const ACCOUNT_JS = `'use strict'
;(() => {
  const root = document.getElementById('account')
  if (!root) return
  // A notice is for this visit: a reload (ours after a launch, or F5) must not say it again.
  if (location.search.includes('notice=')) history.replaceState(null, '', location.pathname + location.hash)
  // Time left is counted against the server's clock: the page carries its time, /state refines it.
  let offset = Date.parse(root.dataset.serverNow) - Date.now()
  const two = (n) => String(n).padStart(2, '0')
  const fmt = (ms) => {
    if (ms <= 0) return 'expired'
    const s = Math.floor(ms / 1000), d = Math.floor(s / 86400)
    return (d > 0 ? d + 'd ' : '') + two(Math.floor((s % 86400) / 3600)) + ':' + two(Math.floor((s % 3600) / 60)) + ':' + two(s % 60)
  }
  const tick = () => {
    const now = Date.now() + offset
    for (const el of document.querySelectorAll('.countdown')) {
      const left = Date.parse(el.dataset.expires) - now
      el.dataset.remainingMs = String(Math.max(0, Math.round(left)))
      const text = fmt(left)
      if (el.textContent !== text) el.textContent = text
      if (left <= 0) el.closest('.token')?.classList.replace('live', 'over')
    }
  }
  tick()
  setInterval(tick, 200)

  // Refresh: the balance, and tokens that started, ended or were revoked elsewhere.
  const refresh = async () => {
    const sent = Date.now()
    const res = await fetch('/state', { headers: { accept: 'application/json' }, cache: 'no-store' })
    if (res.status === 401) return location.assign('/login')
    if (!res.ok) return
    const state = await res.json()
    offset = Date.parse(state.now) - (sent + Date.now()) / 2
    const balance = document.getElementById('balance')
    if (balance && balance.textContent !== state.balance) balance.textContent = state.balance
    let changed = false
    for (const t of state.tokens) {
      const li = document.getElementById('token-' + t.id)
      if (!li) { changed = changed || t.live; continue }
      const countdown = li.querySelector('.countdown')
      if (t.live !== li.classList.contains('live') || (t.expires_at && !countdown)) changed = true
    }
    const typing = document.activeElement && ['INPUT', 'SELECT'].includes(document.activeElement.tagName)
    if (changed && !typing) location.reload()
    else tick()
  }
  refresh().catch(() => {})
  setInterval(() => refresh().catch(() => {}), 15000)

  document.addEventListener('submit', async (event) => {
    const form = event.target
    if (!(form instanceof HTMLFormElement)) return
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return event.preventDefault()
    // Open Zenzefi opens in a new tab by itself; look again once the token has started there.
    if (form.querySelector('[data-launch]')) { setTimeout(() => refresh().catch(() => {}), 1500); setTimeout(() => refresh().catch(() => {}), 4000); return }
    if (!('copy' in form.dataset)) return
    event.preventDefault()
    const button = form.querySelector('button')
    try {
      const res = await fetch(form.action, { method: 'POST', headers: { accept: 'application/json' } })
      if (!res.ok) throw new Error(String(res.status))
      await navigator.clipboard.writeText((await res.json()).token)
      button.textContent = 'Copied'
    } catch {
      button.textContent = 'Copy failed'
    }
    setTimeout(() => { button.textContent = 'Copy token' }, 2000)
  })
})()
`

export const ACCOUNT_CSS = `:root{--fg:#1d2430;--muted:#667085;--line:#e3e7ee;--bg:#f6f7f9;--card:#fff;--accent:#1f5fbf;--danger:#b42318;--ok:#067647}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;justify-content:space-between;padding:.75rem 1.5rem;background:var(--card);border-bottom:1px solid var(--line)}
header nav{display:flex;gap:1rem;align-items:center}
.brand{font-weight:700;color:var(--fg);text-decoration:none}
.who{color:var(--muted)}
main{max-width:60rem;margin:1.5rem auto;padding:0 1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.25rem;margin-bottom:1rem}
.narrow{max-width:26rem;margin:3rem auto}
h1,h2{margin:.2rem 0 .8rem;font-size:1.15rem}
label{display:block;margin-bottom:.75rem;font-weight:500}
input,select{display:block;width:100%;margin-top:.25rem;padding:.5rem .6rem;font:inherit;border:1px solid var(--line);border-radius:6px}
.row{display:flex;gap:.75rem;align-items:flex-end;flex-wrap:wrap}
.row label{margin:0;flex:1 1 12rem}
button{font:inherit;padding:.5rem 1rem;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--danger)}
button.link{border:0;background:none;padding:0;color:var(--accent);text-decoration:underline}
form.inline{display:inline}
table+form.inline{display:block;margin-top:.75rem}
.balance{font-size:1.6rem;font-weight:600;margin:.2rem 0 .8rem}
.tokens{list-style:none;margin:0;padding:0}
.token{border-top:1px solid var(--line);padding:.75rem 0}
.token-head{display:flex;gap:.75rem;align-items:baseline}
.token .state{font-size:.85rem;color:var(--muted)}
.token.live .state{color:var(--ok)}
.token.over{opacity:.6}
.token-id{color:var(--muted)}
.countdown{font-variant-numeric:tabular-nums;font-weight:600}
.actions{display:flex;gap:.5rem;flex-wrap:wrap}
table{width:100%;border-collapse:collapse;font-size:.92rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line)}
.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}
.error{background:#fef3f2;border:1px solid #fecdca;color:var(--danger);padding:.6rem .8rem;border-radius:6px}
.notice{background:#ecfdf3;border:1px solid #abefc6;color:var(--ok);padding:.6rem .8rem;border-radius:6px}
code.secret{display:block;word-break:break-all;padding:.6rem;background:var(--bg);border-radius:6px}
.filters{display:flex;gap:.5rem;flex-wrap:wrap;align-items:flex-end}
.filters label{margin:0}
.admin-nav{display:flex;gap:1rem;margin-bottom:1rem}
.pager{margin-top:.75rem}
#audit code{word-break:break-all;font-size:.85rem}
`
