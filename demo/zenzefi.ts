// A small stand-in for Zenzefi (the Windows web app on https://<host>:61000) for `npm run demo` and
// for tests: HTTPS with the certificate it is given, a page that looks like Zenzefi's certificate
// UI, and in it every kind of URL the gateway rewrites, so the page itself shows what happened:
//
//   GET /                   the page: stylesheet, script, images, links, a form, inline <style>,
//                           style attributes and an inline script, in every spelling the rewriter
//                           handles (root-relative, absolute, protocol-relative, srcset, action,
//                           formaction, url(), @import, JS literals); it greets the X-User-Id the
//                           gateway sent and sets a session cookie (Domain and Path rewritten)
//   GET /static/*           app.css (url() and @import), theme.css, app.js, logo.svg, chip.svg
//   GET /api/certificates   JSON whose links are absolute Zenzefi URLs (rewritten on the way)
//   GET /login              302 to an absolute Zenzefi URL (Location rewritten)
//   GET /legacy             a meta refresh back to / (rewritten)
//   GET /ws/info            SockJS's info answer
//   WS  /ws/<s>/<id>/websocket   SockJS-style framing: "o" on open, ["m"] in → a["m"] out
//   anything else           a small page naming the path (so every link on the page leads somewhere)
//
// Not part of the product: nothing under src/ imports it.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { type WebSocket, WebSocketServer } from 'ws'

export interface DemoZenzefi {
  /** https://127.0.0.1:<port> — what ZENZEFI_TARGET_URL names. */
  url: string
  port: number
  server: Server
  close(): Promise<void>
}

export interface DemoZenzefiOptions {
  key: string | Buffer
  cert: string | Buffer
  /** 0 (the default) picks a free port. */
  port?: number
  host?: string
  /** One line per request and WebSocket, e.g. for the demo's console. */
  log?: (line: string) => void
}

const CERTIFICATES = [
  { id: 1, subject: 'CN=ZF-Diag-Gateway-01', issuer: 'CN=Zenzefi Root CA', status: 'valid', validUntil: '2027-06-30' },
  { id: 2, subject: 'CN=ECU-Flash-Backend', issuer: 'CN=Zenzefi Root CA', status: 'valid', validUntil: '2027-03-31' },
  { id: 3, subject: 'CN=Workshop-Tester-4711', issuer: 'CN=Zenzefi Sub CA 2', status: 'expires soon', validUntil: '2026-12-24' },
  { id: 4, subject: 'CN=Legacy-Diag-Client', issuer: 'CN=Zenzefi Sub CA 1', status: 'revoked', validUntil: '2026-01-15' },
]

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** Each rewritten link on the page keeps what Zenzefi wrote in data-zz (data-* attributes are never rewritten). */
function page(origin: string, host: string, userId: string, tokenId: string): string {
  const link = (attr: string, value: string) => `${attr}="${esc(value)}" data-zz="${esc(value)}" data-zz-attr="${attr}"`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Zenzefi – Certificate Management</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" ${link('href', '/static/app.css')}>
<link rel="icon" href="${origin}/static/chip.svg">
<style>.hero { background-image: url("/static/chip.svg"); }</style>
<script>window.ZENZEFI = { api: "${origin}/api", build: "2026.11-demo" };</script>
<script src="/static/app.js" defer></script>
</head><body data-zz-api="${esc(origin)}/api" data-zz-certs="${esc(origin)}/api/certificates">
<header class="bar"><img class="logo" ${link('src', '/static/logo.svg')} alt="">
<span class="brand">ZENZEFI</span><span class="sub">Certificate Management</span>
<nav><a ${link('href', '/certificates')}>Certificates</a><a ${link('href', `${origin}/settings`)}>Settings</a>
<a ${link('href', `//${host}/about`)}>About</a><a ${link('href', '/login')}>Sign in again</a><a href="help">Help</a></nav>
<span class="user" id="user" data-user-id="${esc(userId)}">User ${esc(userId.slice(0, 8))}</span></header>
<main>
<section class="hero" ${link('style', 'background-image: url(/static/chip.svg)')}>
<img class="chip" ${link('srcset', '/static/chip.svg 1x, /static/chip.svg 2x')} src="/static/chip.svg" alt="">
<div><h1 id="title">Certificates</h1><p>Gateway identity: user <code>${esc(userId || '–')}</code>, token <code>${esc(tokenId || '–')}</code></p></div>
<form class="search" ${link('action', '/api/certificates')} method="get"><input name="q" placeholder="Search subject"><button>Search</button>
<button ${link('formaction', `${origin}/api/certificates?all=1`)}>All</button></form></section>
<div class="cols">
<section class="card"><h2>Installed certificates</h2>
<table id="certs"><thead><tr><th>Subject</th><th>Issuer</th><th>Valid until</th><th>Status</th></tr></thead><tbody><tr><td colspan="4">loading…</td></tr></tbody></table>
<p class="small" id="fetch">fetch: pending</p>
<h3>More Zenzefi pages</h3><p class="small"><a ${link('href', '/legacy')}>Old start page</a> (a meta refresh back here) ·
<a href="help">Help</a> (a relative link: the browser keeps it under the prefix) · <a ${link('href', '/certificates/3')}>Tester 4711</a></p></section>
<section class="card"><h2>Through the gateway</h2>
<p class="small">Zenzefi wrote the left column; your browser got the right one.</p>
<table id="links" class="links"><thead><tr><th>Zenzefi wrote</th><th>Your browser got</th></tr></thead><tbody></tbody></table>
<h3>Live connection (SockJS over WebSocket)</h3><p class="small" id="ws">ws: pending</p>
<h3>Your access token</h3><p class="small" id="token">token: pending</p></section>
</div></main>
<footer>Zenzefi demo stand-in · build <span id="build"></span></footer>
</body></html>`
}

const APP_CSS = `@import "/static/theme.css";
body { margin: 0; font: 14px/1.45 system-ui, "Segoe UI", sans-serif; background: #eef2f6; color: #1c2733; }
.bar { display: flex; align-items: center; gap: 14px; padding: 10px 20px; background: #0b2a4a; color: #fff; }
.bar .logo { width: 28px; height: 28px; }
.brand { font-weight: 700; letter-spacing: 0.18em; }
.sub { opacity: 0.75; }
.bar nav { display: flex; gap: 14px; margin-left: 24px; }
.bar nav a { color: #cfe3ff; text-decoration: none; }
.bar .user { margin-left: auto; font-size: 12px; opacity: 0.85; }
main { padding: 18px 20px; }
.hero { display: flex; align-items: center; gap: 16px; padding: 14px 104px 14px 18px; border-radius: 8px; background: #fff no-repeat right 24px center / 56px; box-shadow: 0 1px 2px #0002; }
.hero .chip { width: 48px; height: 48px; }
.hero h1 { margin: 0; font-size: 22px; }
.hero p { margin: 4px 0 0; font-size: 12px; color: #5a6b7d; }
.search { margin-left: auto; display: flex; gap: 6px; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-top: 16px; }
.card { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; min-width: 0; }
.card h2 { font-size: 15px; margin: 2px 0 10px; }
.card h3 { font-size: 13px; margin: 14px 0 4px; }
table { width: 100%; border-collapse: collapse; font-size: 12px; }
th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
.links td { font-family: ui-monospace, monospace; font-size: 11px; word-break: break-all; }
.small { font-size: 12px; color: #3b4a5a; word-break: break-all; }
.status-valid { color: #1d7a35; } .status-revoked { color: #b3261e; } .status-expires { color: #a05a00; }
footer { margin: 0 20px 16px; padding: 2px 0 2px 18px; font-size: 11px; color: #6b7b8c; background: url(/static/logo.svg) no-repeat left center / 12px; }
`

const THEME_CSS = `#title { color: rgb(11, 42, 74); }
.hero { border-left: 4px solid #2f7de1; }
`

// SockJS clients resolve "/ws" against the page's location; the gateway rewrites such literals.
const APP_JS = `// Zenzefi demo UI script: builds URLs at run time the way Zenzefi's own scripts do.
(function () {
  var SOCKJS_URL = '/ws';
  var API = window.ZENZEFI.api;
  var CERTS_SELF = '__ORIGIN__/api/certificates';
  function text(id, value) { document.getElementById(id).textContent = value; }
  text('build', window.ZENZEFI.build);

  // What the page holds after the gateway: each element's URL as Zenzefi wrote it, and as it arrived.
  var rows = [];
  document.querySelectorAll('[data-zz]').forEach(function (el) {
    var attr = el.getAttribute('data-zz-attr');
    rows.push([el.tagName.toLowerCase() + ' ' + attr + '  ' + el.getAttribute('data-zz'), el.getAttribute(attr)]);
  });
  rows.push(['inline script  ' + document.body.getAttribute('data-zz-api'), API]);
  rows.push(['app.js  ' + "'/" + "ws'", SOCKJS_URL]);
  rows.push(['app.js  ' + document.body.getAttribute('data-zz-certs'), CERTS_SELF]);
  var tbody = document.querySelector('#links tbody');
  rows.forEach(function (r) {
    var tr = document.createElement('tr');
    r.forEach(function (c) { var td = document.createElement('td'); td.textContent = c; tr.appendChild(td); });
    tbody.appendChild(tr);
  });

  // A root-relative fetch, as page scripts write them: the injected shim adds the prefix.
  fetch('/api/certificates').then(function (r) {
    return r.json().then(function (d) {
      text('fetch', 'fetch /api/certificates → ' + r.url + ' (' + d.items.length + ' certificates; first link ' + d.items[0].href + ')');
      var body = document.querySelector('#certs tbody');
      body.textContent = '';
      d.items.forEach(function (c) {
        var tr = document.createElement('tr');
        var a = document.createElement('a'); a.href = c.href; a.textContent = c.subject;
        var cls = c.status === 'valid' ? 'status-valid' : c.status === 'revoked' ? 'status-revoked' : 'status-expires';
        [a, c.issuer, c.validUntil, c.status].forEach(function (v, i) {
          var td = document.createElement('td');
          if (typeof v === 'string') td.textContent = v; else td.appendChild(v);
          if (i === 3) td.className = cls;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    });
  }).catch(function (e) { text('fetch', 'fetch failed: ' + e); });

  // SockJS-style: GET <url>/info, then a WebSocket at <url>/<server>/<session>/websocket.
  fetch(SOCKJS_URL + '/info').then(function (r) { return r.json(); }).then(function (info) {
    if (!info.websocket) throw new Error('no websocket');
    var session = Math.random().toString(36).slice(2, 10);
    var ws = new WebSocket(location.origin.replace(/^http/, 'ws') + SOCKJS_URL + '/000/' + session + '/websocket');
    ws.onmessage = function (m) {
      if (m.data === 'o') { ws.send(JSON.stringify(['hello from the page'])); return; }
      if (m.data.charAt(0) === 'a') text('ws', 'ws ' + ws.url + ' → echo ' + JSON.parse(m.data.slice(1))[0]);
    };
    ws.onerror = function () { text('ws', 'ws failed'); };
  }).catch(function (e) { text('ws', 'ws failed: ' + e); });

  // Asked of the gateway itself (its cookie endpoint), not of Zenzefi: this page started the token's clock.
  fetch('/api/v1/proxy/status').then(function (r) { return r.json(); }).then(function (s) {
    var left = s.time_remaining_seconds;
    text('token', 'token ' + s.status + (left === null ? '' : ', ' + Math.floor(left / 3600) + ' h ' + Math.floor((left % 3600) / 60) + ' min left of ' + s.duration_hours + ' h') + ' (answered by the gateway)');
  }).catch(function (e) { text('token', 'token status failed: ' + e); });
})();
`

const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#2f7de1"/><path d="M8 9h16l-11 14h11" fill="none" stroke="#fff" stroke-width="3" stroke-linejoin="round"/></svg>`
const CHIP_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect x="10" y="10" width="28" height="28" rx="4" fill="#0b2a4a"/><rect x="17" y="17" width="14" height="14" rx="2" fill="#2f7de1"/><g stroke="#6b8db5" stroke-width="2">${[14, 20, 26, 32].map((v) => `<path d="M${v} 4v6M${v} 38v6M4 ${v}h6M38 ${v}h6"/>`).join('')}</g></svg>`

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string | string[]> = {}) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}

export async function startDemoZenzefi(opts: DemoZenzefiOptions): Promise<DemoZenzefi> {
  const log = opts.log ?? (() => {})
  let origin = ''
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://zenzefi.invalid')
    const path = url.pathname
    const who = String(req.headers['x-user-id'] ?? '')
    log(`${req.method} ${path}${who ? ` (X-User-Id ${who.slice(0, 8)}…, X-Token-Id ${String(req.headers['x-token-id'] ?? '').slice(0, 8)}…)` : ''}`)
    // The Host the gateway sent is Zenzefi's own: absolute URLs name it, as Zenzefi's pages do.
    const host = req.headers.host ?? new URL(origin).host
    const self = `https://${host}`
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'application/json', '{"error":"method not allowed"}', { allow: 'GET, HEAD' })
    switch (path) {
      case '/':
      case '/index.html':
        return send(res, 200, 'text/html; charset=utf-8', page(self, host, who, String(req.headers['x-token-id'] ?? '')), {
          'set-cookie': [`JSESSIONID=demo${Date.now().toString(36)}; Path=/; Domain=${host.split(':')[0]}; HttpOnly`],
          'cache-control': 'no-cache',
        })
      case '/static/app.css':
        return send(res, 200, 'text/css', APP_CSS)
      case '/static/theme.css':
        return send(res, 200, 'text/css', THEME_CSS)
      case '/static/app.js':
        return send(res, 200, 'application/javascript', APP_JS.replace('__ORIGIN__', self))
      case '/static/logo.svg':
        return send(res, 200, 'image/svg+xml', LOGO_SVG)
      case '/static/chip.svg':
        return send(res, 200, 'image/svg+xml', CHIP_SVG)
      case '/api/certificates': {
        const q = (url.searchParams.get('q') ?? '').toLowerCase()
        const items = CERTIFICATES.filter((c) => c.subject.toLowerCase().includes(q)).map((c) => ({ ...c, href: `${self}/certificates/${c.id}` }))
        return send(res, 200, 'application/json', JSON.stringify({ items, _links: { self: `${self}/api/certificates` } }))
      }
      case '/login':
        return send(res, 302, 'text/plain', 'signed in', { location: `${self}/` })
      case '/legacy':
        return send(
          res,
          200,
          'text/html; charset=utf-8',
          `<!doctype html><meta http-equiv="refresh" content="2; url=${self}/"><p>Moved. Back to the start page in 2 s.</p>`,
        )
      case '/ws/info':
        return send(res, 200, 'application/json', JSON.stringify({ websocket: true, origins: ['*:*'], cookie_needed: false, entropy: 4711 }))
      default:
        return send(
          res,
          path.startsWith('/static/') || path.startsWith('/api/') ? 404 : 200,
          'text/html; charset=utf-8',
          `<!doctype html><title>Zenzefi</title><p>Zenzefi page <code>${esc(path)}</code>.</p><p><a href="/">Back to the certificates</a></p>`,
        )
    }
  }
  const server = createServer({ key: opts.key, cert: opts.cert }, handle)
  server.on('clientError', (_err, socket) => socket.destroy())
  const wss = new WebSocketServer({ noServer: true })
  const sockets = new Set<WebSocket>()
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0]!
    if (!/^\/ws\/[^/]+\/[^/]+\/websocket$/.test(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      log(`WebSocket ${path}`)
      sockets.add(ws)
      ws.on('close', () => sockets.delete(ws))
      ws.send('o')
      ws.on('message', (data) => {
        let messages: unknown
        try {
          messages = JSON.parse(String(data))
        } catch {
          return ws.close(2000, 'Broken framing.')
        }
        if (Array.isArray(messages)) ws.send(`a${JSON.stringify(messages)}`)
      })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  origin = `https://127.0.0.1:${port}`
  return {
    url: origin,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate()
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
