// HTML bodies through html-rewriter-wasm: each URL-bearing attribute, the special cases
// (srcset, meta refresh, base, inline style, <style>, inline <script>), shim placement, chunking,
// idempotency and desktop mode.
import { describe, expect, it } from 'vitest'
import { rewriteSrcset } from '../../src/rewrite/html'
import { shimScript } from '../../src/rewrite/shim'
import { mapRefresh } from '../../src/rewrite/url-mapper'
import { desktop, direct, html, LOCAL, PREFIX, PUBLIC, UPSTREAM, withoutShim } from './support'

const P = PUBLIC + PREFIX
const SHIM = shimScript(direct)
const count = (s: string, part: string) => s.split(part).length - 1

/** The document with the shim removed, to assert on the rewritten markup alone. */
const body = async (markup: string, mapper = direct) => withoutShim(await html(markup, mapper))

describe('URL attributes', () => {
  const cases: Array<[string, string, string]> = [
    ['a href', '<a href="/certs/1">x</a>', `<a href="${PREFIX}/certs/1">x</a>`],
    ['link href', '<link rel="stylesheet" href="/css/app.css">', `<link rel="stylesheet" href="${PREFIX}/css/app.css">`],
    ['base href', '<base href="/app/">', `<base href="${PREFIX}/app/">`],
    ['script src', '<script src="/js/app.js"></script>', `<script src="${PREFIX}/js/app.js"></script>`],
    ['img src', '<img src="/i.png" alt="">', `<img src="${PREFIX}/i.png" alt="">`],
    ['iframe src', '<iframe src="/frame"></iframe>', `<iframe src="${PREFIX}/frame"></iframe>`],
    ['form action', '<form action="/login" method="post"></form>', `<form action="${PREFIX}/login" method="post"></form>`],
    ['button formaction', '<button formaction="/delete">x</button>', `<button formaction="${PREFIX}/delete">x</button>`],
    ['video poster', '<video poster="/p.jpg"></video>', `<video poster="${PREFIX}/p.jpg"></video>`],
    ['object data', '<object data="/o.svg"></object>', `<object data="${PREFIX}/o.svg"></object>`],
  ]
  for (const [name, input, expected] of cases) {
    it(`rewrites ${name}`, async () => {
      expect(await body(input)).toBe(expected)
    })
  }

  it('leaves data= on other elements alone', async () => {
    expect(await body('<div data="/x"></div>')).toBe('<div data="/x"></div>')
  })

  it('maps absolute upstream URLs to the public base, upper-case scheme and host included', async () => {
    expect(await body(`<a href="${UPSTREAM}/help?x=1#y">h</a>`)).toBe(`<a href="${P}/help?x=1#y">h</a>`)
    expect(await body(`<img src="HTTPS://ZENZEFI.LOCAL:61000/i.png">`)).toBe(`<img src="${P}/i.png">`)
  })

  it('leaves other URLs untouched, byte for byte', async () => {
    const markup =
      `<a href="#top">t</a><a href='rel/page.html'>r</a><a href=javascript:void(0)>j</a>` +
      `<a href="https://example.com/x">e</a><img src="//cdn.example/x.png"><a href="https://zenzefi.local:610001/">p</a>` +
      `<img src="data:image/png;base64,AAAA"><a href="mailto:a@b.c">m</a>`
    const out = await body(`${markup}<img src="/x.png">`, direct)
    expect(out).toBe(`${markup}<img src="${PREFIX}/x.png">`)
  })

  it('adds the prefix once: already prefixed URLs stay as they are', async () => {
    expect(await body(`<a href="${PREFIX}/x">x</a><a href="${P}/y">y</a>`)).toBe(`<a href="${PREFIX}/x">x</a><a href="${P}/y">y</a>`)
  })

  it('keeps entities in query strings and handles a value with leading whitespace', async () => {
    expect(await body(`<a href="/q?a=1&amp;b=2">x</a><a href=" /sp ">y</a>`)).toBe(`<a href="${PREFIX}/q?a=1&amp;b=2">x</a><a href="${PREFIX}/sp">y</a>`)
  })
})

describe('srcset', () => {
  it('rewrites every candidate and keeps descriptors', async () => {
    expect(await body(`<img srcset="/a.png 1x, /b.png 2x,${UPSTREAM}/c.png 3x" src="/a.png">`)).toBe(
      `<img srcset="${PREFIX}/a.png 1x, ${PREFIX}/b.png 2x,${P}/c.png 3x" src="${PREFIX}/a.png">`,
    )
  })

  it('copes with data: URLs containing commas, width descriptors and odd spacing', () => {
    expect(rewriteSrcset('data:image/png;base64,AA,BB 1x,\n  /w.png 640w,/x.png', direct)).toBe(
      `data:image/png;base64,AA,BB 1x,\n  ${PREFIX}/w.png 640w,${PREFIX}/x.png`,
    )
    // As in the HTML spec: without whitespace after the comma, "/a.png,/b.png" is one URL.
    expect(rewriteSrcset('/a.png,/b.png 2x', direct)).toBe(`${PREFIX}/a.png,/b.png 2x`)
    expect(rewriteSrcset('/a.png, /b.png 2x', direct)).toBe(`${PREFIX}/a.png, ${PREFIX}/b.png 2x`)
  })

  it('rewrites <source srcset> too', async () => {
    expect(await body('<picture><source srcset="/s.webp" type="image/webp"></picture>')).toBe(
      `<picture><source srcset="${PREFIX}/s.webp" type="image/webp"></picture>`,
    )
  })
})

describe('meta refresh', () => {
  it('rewrites the URL part of the content attribute', async () => {
    expect(await body('<meta http-equiv="refresh" content="5; url=/next">')).toBe(`<meta http-equiv="refresh" content="5; url=${PREFIX}/next">`)
    expect(await body(`<meta http-equiv="Refresh" content="0;URL='/a?b=c'">`)).toBe(`<meta http-equiv="Refresh" content="0;URL='${PREFIX}/a?b=c'">`)
  })

  it('leaves a refresh without URL and other meta tags alone', async () => {
    const markup = '<meta http-equiv="refresh" content="30"><meta name="x" content="/not-a-url"><meta http-equiv="content-type" content="/x">'
    expect(await body(markup)).toBe(markup)
  })

  it('parses the variants browsers accept', () => {
    expect(mapRefresh('3,/x', direct)).toBe(`3,${PREFIX}/x`)
    expect(mapRefresh(` 1 ; url = "${UPSTREAM}/y" `, direct)).toBe(` 1 ; url = "${P}/y" `)
  })
})

describe('CSS inside HTML', () => {
  it('rewrites url() in style attributes, including &quot;-quoted values', async () => {
    expect(await body(`<div style="background:url(/bg.png)"></div>`)).toBe(`<div style="background:url(${PREFIX}/bg.png)"></div>`)
    expect(await body(`<div style="background:url(&quot;/bg.png&quot;) no-repeat"></div>`)).toBe(
      `<div style="background:url(&quot;${PREFIX}/bg.png&quot;) no-repeat"></div>`,
    )
    expect(await body(`<div style='background:url("${UPSTREAM}/bg.png")'></div>`)).toBe(`<div style="background:url(&quot;${P}/bg.png&quot;)"></div>`)
  })

  it('leaves style attributes without URLs byte for byte', async () => {
    const markup = `<div style='color:red; font-family:"Segoe UI"'></div>`
    expect(await body(markup)).toBe(markup)
  })

  it('rewrites <style> text without escaping CSS', async () => {
    const style = `@import "/base.css";\n.a > .b{background:url(/x.png)}\n.c{src:url('${UPSTREAM}/f.woff')}`
    expect(await body(`<style>${style}</style>`)).toBe(
      `<style>@import "${PREFIX}/base.css";\n.a > .b{background:url(${PREFIX}/x.png)}\n.c{src:url('${P}/f.woff')}</style>`,
    )
  })

  it('rewrites a <style> element longer than the text rewriter carry', async () => {
    const rules = '.r{background:url(/r.png)}\n'.repeat(2000)
    expect(await body(`<style>${rules}</style>`, direct)).toBe(`<style>${rules.replaceAll('(/r.png)', `(${PREFIX}/r.png)`)}</style>`)
  })
})

describe('inline scripts', () => {
  it('get the script-file rules: SockJS "/ws" and absolute upstream URLs', async () => {
    expect(await body(`<script>var s=new SockJS('/ws');var api="${UPSTREAM}/api";fetch("/x")</script>`)).toBe(
      `<script>var s=new SockJS('${PREFIX}/ws');var api="${P}/api";fetch("/x")</script>`,
    )
  })

  it('leave template and other data blocks alone', async () => {
    const markup = `<script type="text/template"><a href="/ws">${UPSTREAM}</a></script>`
    expect(await body(markup)).toBe(markup)
  })
})

describe('Subresource Integrity', () => {
  it('drops integrity from scripts and stylesheets we may rewrite, keeps it on foreign ones', async () => {
    const foreign = '<script src="https://cdn.example/x.js" integrity="sha384-abc" crossorigin="anonymous"></script>'
    expect(
      await body(`<script src="/js/app.js" integrity="sha384-abc"></script><link rel="stylesheet" href="css/a.css" integrity="sha384-def">${foreign}`),
    ).toBe(`<script src="${PREFIX}/js/app.js"></script><link rel="stylesheet" href="css/a.css">${foreign}`)
    expect(await body(`<script src="${UPSTREAM}/a.js" integrity="sha384-abc"></script>`, desktop)).toBe(`<script src="${LOCAL}/a.js"></script>`)
  })
})

describe('the runtime shim', () => {
  it('is the first child of <head>, exactly once', async () => {
    const out = await html('<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Z</title></head><body><head></head></body></html>')
    expect(out).toBe(`<!doctype html><html lang="de"><head>${SHIM}<meta charset="utf-8"><title>Z</title></head><body><head></head></body></html>`)
    expect(count(out, 'data-zenzefi-shim')).toBe(1)
  })

  it('goes before the first element inside <html> when there is no <head>', async () => {
    expect(await html('<!doctype html><html>\n<body><p>x</p></body></html>')).toBe(`<!doctype html><html>\n${SHIM}<body><p>x</p></body></html>`)
  })

  it('goes before <body> when there is neither <html> nor <head>', async () => {
    expect(await html('<!doctype html><title>t</title><body>x</body>')).toBe(`<!doctype html><title>t</title>${SHIM}<body>x</body>`)
  })

  it('is not added to fragments (no html, head or body)', async () => {
    expect(await html('<div class="row"><a href="/x">x</a></div>')).toBe(`<div class="row"><a href="${PREFIX}/x">x</a></div>`)
  })

  it('is not added in desktop mode', async () => {
    const page = '<!doctype html><html><head><title>t</title></head><body></body></html>'
    expect(await html(page, desktop)).toBe(page)
  })
})

// A page with every rule, multi-byte text and long lines, for the chunking and idempotency tests.
const PAGE = `<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><meta http-equiv="refresh" content="600; url=/session/expired">
<base href="/app/"><title>Zertifikate – Übersicht 🚗</title>
<link rel="stylesheet" href="/css/app.css"><link rel="icon" href="${UPSTREAM}/favicon.ico">
<style>@import '/css/theme.css';body{background:url("/img/bg.png")} .x > .y{color:#333}</style>
<script src="/js/sockjs.min.js"></script><script>var sock=new SockJS("/ws");var base="${UPSTREAM}/api";</script>
</head><body style="background-image:url(/img/body.png)">
<h1>Prüfstand Ünterkühlung — €</h1>
<img src="/img/a.png" srcset="/img/a.png 1x, /img/a@2x.png 2x" alt="ä">
<form action="/certs/renew" method="post"><button formaction="/certs/revoke">Widerrufen</button></form>
<video poster="/v/p.jpg" src="${UPSTREAM}/v/v.mp4"></video><object data="/o/x.svg"></object>
<a href="#top">oben</a> <a href="https://example.com/">extern</a> <a href="/certs?page=2&amp;size=50">weiter</a>
<p>${'Lorem ipsum dolor sit amet, consectetur ädipiscing elit. '.repeat(40)}</p>
</body></html>
`

describe('streaming', () => {
  it('gives the same output fed in 7-byte chunks as fed whole', async () => {
    const whole = await html(PAGE)
    expect(withoutShim(whole)).not.toBe(PAGE)
    expect(await html(PAGE, direct, [7])).toBe(whole)
    expect(await html(PAGE, desktop, [7])).toBe(await html(PAGE, desktop))
  })

  it('keeps multi-byte UTF-8 characters split across chunks intact', async () => {
    const page = '<p>Grüße aus Stuttgart 🚗 €</p>'.repeat(20)
    expect(await html(page, direct, [1])).toBe(page)
    expect(await html(page, direct, [2, 3])).toBe(page)
  })
})

describe('idempotency', () => {
  it('direct mode: rewriting rewritten HTML changes nothing (the shim is not added twice)', async () => {
    const once = await html(PAGE)
    expect(await html(once)).toBe(once)
    const noHead = await html('<html><body><a href="/x">x</a></body></html>')
    expect(await html(noHead)).toBe(noHead)
  })

  it('desktop mode: rewriting rewritten HTML changes nothing', async () => {
    const once = await html(PAGE, desktop)
    expect(await html(once, desktop)).toBe(once)
  })
})

describe('desktop mode', () => {
  it('leaves root-relative URLs alone and moves absolute upstream URLs to the local origin', async () => {
    const out = await html(PAGE, desktop)
    const expected = PAGE.replaceAll(UPSTREAM, LOCAL)
    expect(out).toBe(expected)
  })
})
