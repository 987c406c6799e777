// The runtime shim, run in node:vm against stand-ins for the browser globals it wraps. The
// stand-ins only record the URL they are handed; the shim is what decides that URL.
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { shimScript, shimSource } from '../../src/rewrite/shim'
import { createUrlMapper, type UrlMapper } from '../../src/rewrite/url-mapper'
import { desktop, direct, LOCAL, PREFIX, PUBLIC, UPSTREAM } from './support'

function browser(mapper: UrlMapper, pageOrigin = PUBLIC) {
  const seen = { fetch: [] as string[], xhr: [] as string[], ws: [] as unknown[][], es: [] as string[], history: [] as unknown[] }
  class WebSocket {
    static CONNECTING = 0
    static OPEN = 1
    static CLOSING = 2
    static CLOSED = 3
    readonly url: string
    constructor(url: string, protocols?: string | string[]) {
      this.url = url
      seen.ws.push(protocols === undefined ? [url] : [url, protocols])
    }
  }
  class EventSource {
    static CONNECTING = 0
    static OPEN = 1
    static CLOSED = 2
    constructor(url: string) {
      seen.es.push(url)
    }
  }
  class XMLHttpRequest {
    open(_method: string, url: string) {
      seen.xhr.push(url)
    }
  }
  const window: Record<string, unknown> = {
    fetch: (input: unknown) => {
      seen.fetch.push(input instanceof Request ? `Request ${input.method} ${input.url}` : String(input))
      return Promise.resolve(new Response('ok'))
    },
    XMLHttpRequest,
    WebSocket,
    EventSource,
    history: {
      pushState: (_s: unknown, _t: string, url?: string) => seen.history.push(url),
      replaceState: (_s: unknown, _t: string, url?: string) => seen.history.push(url),
    },
    location: { origin: pageOrigin, href: `${pageOrigin}${mapper.prefix}/app/` },
    Request,
    Response,
    URL,
  }
  window.window = window
  const context = vm.createContext(window)
  const run = (code: string) => vm.runInContext(code, context)
  run(shimSource(mapper))
  return { seen, run, window }
}

describe('shim in direct mode', () => {
  it('fetch: root-relative gets the prefix once; absolute upstream becomes public; others untouched', () => {
    const { seen, run } = browser(direct)
    run(`fetch('/api/certs'); fetch('${PREFIX}/already'); fetch('${UPSTREAM}/x?y#z'); fetch('https://example.com/a'); fetch('rel/x'); fetch('//cdn/x')`)
    expect(seen.fetch).toEqual([`${PREFIX}/api/certs`, `${PREFIX}/already`, `${PUBLIC}${PREFIX}/x?y#z`, 'https://example.com/a', 'rel/x', '//cdn/x'])
  })

  it('fetch: URL objects and Request objects (which the browser resolves against location)', () => {
    const { seen, run } = browser(direct)
    run(`fetch(new URL('${UPSTREAM}/u')); fetch(new Request('${PUBLIC}/ws/info', {method: 'POST', body: 'x'})); fetch(new Request('${PUBLIC}${PREFIX}/ok'))`)
    expect(seen.fetch).toEqual([`${PUBLIC}${PREFIX}/u`, `Request POST ${PUBLIC}${PREFIX}/ws/info`, `Request GET ${PUBLIC}${PREFIX}/ok`])
  })

  it('XMLHttpRequest.open: SockJS info request, relative and absolute', () => {
    const { seen, run } = browser(direct)
    run(
      `var x = new XMLHttpRequest(); x.open('GET', '/ws/info?t=1'); x.open('GET', '${PUBLIC}/ws/info'); x.open('POST', 'https://ZENZEFI.local:61000/a', true)`,
    )
    expect(seen.xhr).toEqual([`${PREFIX}/ws/info?t=1`, `${PUBLIC}${PREFIX}/ws/info`, `${PUBLIC}${PREFIX}/a`])
  })

  it('WebSocket: upstream ws(s) becomes the public ws origin; protocols pass through; instanceof and constants still work', () => {
    const { seen, run } = browser(direct)
    const result = run(`
      var a = new WebSocket('wss://zenzefi.local:61000/ws/1/abc/websocket', ['v12.stomp']);
      var b = new WebSocket('ws://gw.example/ws/2/def/websocket');
      var c = new WebSocket('/ws/3/ghi/websocket');
      [a instanceof WebSocket, WebSocket.OPEN, WebSocket.CLOSED, WebSocket.CONNECTING, WebSocket.CLOSING, WebSocket.name, a.url]`)
    expect(seen.ws).toEqual([
      [`ws://gw.example${PREFIX}/ws/1/abc/websocket`, ['v12.stomp']],
      [`ws://gw.example${PREFIX}/ws/2/def/websocket`],
      [`${PREFIX}/ws/3/ghi/websocket`],
    ])
    expect(result).toEqual([true, 1, 3, 0, 2, 'WebSocket', `ws://gw.example${PREFIX}/ws/1/abc/websocket`])
  })

  it('WebSocket on an https public origin gets wss', () => {
    const secure = createUrlMapper({ upstream: UPSTREAM, backendUrl: 'https://gw.example', localUrl: null })
    const { seen, run } = browser(secure, 'https://gw.example')
    run(`new WebSocket('wss://zenzefi.local:61000/ws')`)
    expect(seen.ws).toEqual([[`wss://gw.example${PREFIX}/ws`]])
  })

  it('EventSource and history.pushState/replaceState', () => {
    const { seen, run } = browser(direct)
    const result = run(`
      var e = new EventSource('/events'); history.pushState({}, '', '/page/2'); history.replaceState({}, ''); history.replaceState(null, '', '?tab=1');
      [e instanceof EventSource, EventSource.CLOSED]`)
    expect(seen.es).toEqual([`${PREFIX}/events`])
    expect(seen.history).toEqual([`${PREFIX}/page/2`, undefined, '?tab=1'])
    expect(result).toEqual([true, 2])
  })

  it('loading it twice wraps nothing twice', () => {
    const { seen, run, window } = browser(direct)
    const wrapped = [window.fetch, window.WebSocket, (window.XMLHttpRequest as { prototype: { open: unknown } }).prototype.open]
    run(shimSource(direct))
    expect([window.fetch, window.WebSocket, (window.XMLHttpRequest as { prototype: { open: unknown } }).prototype.open]).toEqual(wrapped)
    run(`fetch('/x'); new WebSocket('/ws')`)
    expect(seen.fetch).toEqual([`${PREFIX}/x`])
    expect(seen.ws).toEqual([[`${PREFIX}/ws`]])
  })
})

describe('shim in desktop mode (not injected, but correct if it were)', () => {
  it('leaves root-relative URLs alone and moves upstream URLs to the local origin', () => {
    const { seen, run } = browser(desktop, LOCAL)
    run(`fetch('/api/x'); fetch('${UPSTREAM}/y'); new WebSocket('wss://zenzefi.local:61000/ws')`)
    expect(seen.fetch).toEqual(['/api/x', `${LOCAL}/y`])
    expect(seen.ws).toEqual([['wss://127.0.0.1:61000/ws']])
  })
})

describe('shim embedding', () => {
  it('is a small script element marked for idempotent injection', () => {
    const s = shimScript(direct)
    expect(s.startsWith('<script data-zenzefi-shim>')).toBe(true)
    expect(s.endsWith('</script>')).toBe(true)
    expect(s.length).toBeLessThan(2500)
  })

  it('escapes the embedded values so they cannot close the script element', () => {
    const hostile: UrlMapper = {
      ...direct,
      prefix: '/p</script><script>alert(1)</script><!--',
      publicBase: 'http://gw.example/p</script><script>alert(1)</script><!--',
    }
    const s = shimScript(hostile)
    expect(s.indexOf('</script')).toBe(s.length - '</script>'.length)
    expect(s).not.toContain('<!--')
    // …and the value still arrives intact in the browser.
    const { seen, run } = browser(hostile)
    run(`fetch('/x')`)
    expect(seen.fetch).toEqual(['/p</script><script>alert(1)</script><!--/x'])
  })
})
