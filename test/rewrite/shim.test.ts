// The runtime shim, run in node:vm against stand-ins for the browser globals it wraps. The
// stand-ins only record the URL they are handed; the shim is what decides that URL.
import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { shimScript, shimSource } from '../../src/rewrite/shim'
import { createUrlMapper, type UrlMapper } from '../../src/rewrite/url-mapper'
import { desktop, direct, html, LOCAL, PREFIX, PUBLIC, UPSTREAM } from './support'

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
  it('fetch: root-relative gets the prefix once; other URLs untouched', () => {
    const { seen, run } = browser(direct)
    run(
      `fetch('/api/certs'); fetch('${PREFIX}/already'); fetch('${PREFIX}?q'); fetch('https://example.com/a'); fetch('rel/x'); fetch('//cdn/x'); fetch('/\\\\x')`,
    )
    expect(seen.fetch).toEqual([`${PREFIX}/api/certs`, `${PREFIX}/already`, `${PREFIX}?q`, 'https://example.com/a', 'rel/x', '//cdn/x', '/\\x'])
  })

  it('fetch: absolute URLs on the page’s own origin get the prefix (any case), once', () => {
    const { seen, run } = browser(direct)
    run(
      `fetch('${PUBLIC}/x?y#z'); fetch('HTTP://GW.EXAMPLE/a'); fetch('${PUBLIC}'); fetch('${PUBLIC}${PREFIX}/ok'); fetch('${PUBLIC}.evil/x'); fetch('${PUBLIC}:8080/x')`,
    )
    expect(seen.fetch).toEqual([
      `${PUBLIC}${PREFIX}/x?y#z`,
      `${PUBLIC}${PREFIX}/a`,
      `${PUBLIC}${PREFIX}/`,
      `${PUBLIC}${PREFIX}/ok`,
      `${PUBLIC}.evil/x`,
      `${PUBLIC}:8080/x`,
    ])
  })

  it('fetch: URL objects and Request objects (which the browser resolves against location)', () => {
    const { seen, run } = browser(direct)
    run(`fetch(new URL('${PUBLIC}/u')); fetch(new Request('${PUBLIC}/ws/info', {method: 'POST', body: 'x'})); fetch(new Request('${PUBLIC}${PREFIX}/ok'))`)
    expect(seen.fetch).toEqual([`${PUBLIC}${PREFIX}/u`, `Request POST ${PUBLIC}${PREFIX}/ws/info`, `Request GET ${PUBLIC}${PREFIX}/ok`])
  })

  it('XMLHttpRequest.open: SockJS info request, relative and absolute', () => {
    const { seen, run } = browser(direct)
    run(`var x = new XMLHttpRequest(); x.open('GET', '/ws/info?t=1'); x.open('GET', '${PUBLIC}/ws/info'); x.open('POST', 'HTTP://GW.example/a', true)`)
    expect(seen.xhr).toEqual([`${PREFIX}/ws/info?t=1`, `${PUBLIC}${PREFIX}/ws/info`, `${PUBLIC}${PREFIX}/a`])
  })

  it('WebSocket: same-origin ws(s) and root-relative get the prefix; protocols pass through; instanceof and constants still work', () => {
    const { seen, run } = browser(direct)
    const result = run(`
      var a = new WebSocket('ws://gw.example/ws/1/abc/websocket', ['v12.stomp']);
      var b = new WebSocket('ws://gw.example${PREFIX}/ws/2/def/websocket');
      var c = new WebSocket('/ws/3/ghi/websocket');
      [a instanceof WebSocket, WebSocket.OPEN, WebSocket.CLOSED, WebSocket.CONNECTING, WebSocket.CLOSING, WebSocket.name, a.url]`)
    expect(seen.ws).toEqual([
      [`ws://gw.example${PREFIX}/ws/1/abc/websocket`, ['v12.stomp']],
      [`ws://gw.example${PREFIX}/ws/2/def/websocket`],
      [`${PREFIX}/ws/3/ghi/websocket`],
    ])
    expect(result).toEqual([true, 1, 3, 0, 2, 'WebSocket', `ws://gw.example${PREFIX}/ws/1/abc/websocket`])
  })

  it('WebSocket on an https public origin: wss on that origin gets the prefix', () => {
    const secure = createUrlMapper({ upstream: UPSTREAM, backendUrl: 'https://gw.example', localUrl: null })
    const { seen, run } = browser(secure, 'https://gw.example')
    run(`new WebSocket('wss://gw.example/ws'); new WebSocket('ws://gw.example/ws')`)
    expect(seen.ws).toEqual([[`wss://gw.example${PREFIX}/ws`], ['ws://gw.example/ws']])
  })

  it('an upstream URL assembled at run time is not routed (the shim does not know the upstream; literals are rewritten statically)', () => {
    const { seen, run } = browser(direct)
    run(`var h = ['zenzefi', 'local:61000'].join('.'); fetch('https://' + h + '/x'); new WebSocket('wss://' + h + '/ws')`)
    expect(seen.fetch).toEqual([`${UPSTREAM}/x`])
    expect(seen.ws).toEqual([['wss://zenzefi.local:61000/ws']])
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

describe('shim in desktop mode (not injected, and a no-op if it were)', () => {
  it('leaves every URL alone: the local proxy serves Zenzefi at its root', () => {
    const { seen, run } = browser(desktop, LOCAL)
    run(`fetch('/api/x'); fetch('${LOCAL}/y'); fetch('${UPSTREAM}/z'); new WebSocket('wss://127.0.0.1:61000/ws')`)
    expect(seen.fetch).toEqual(['/api/x', `${LOCAL}/y`, `${UPSTREAM}/z`])
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
    const hostile: UrlMapper = { ...direct, prefix: '/p</script><script>alert(1)</script><!--' }
    const s = shimScript(hostile)
    expect(s.indexOf('</script')).toBe(s.length - '</script>'.length)
    expect(s).not.toContain('<!--')
    // …and the value still arrives intact in the browser.
    const { seen, run } = browser(hostile)
    run(`fetch('/x')`)
    expect(seen.fetch).toEqual(['/p</script><script>alert(1)</script><!--/x'])
  })

  // Every proxied page carries the shim: naming the upstream in it would tell every customer where the tunnel ends.
  const mappers: Array<[label: string, mapper: UrlMapper]> = [
    ['direct', direct],
    ['desktop', desktop],
    ['default port', createUrlMapper({ upstream: 'https://zenzefi-tunnel.example.net', backendUrl: PUBLIC, localUrl: null })],
    ['IPv4 and http', createUrlMapper({ upstream: 'http://10.20.30.40:8443', backendUrl: 'https://gw.example/base', localUrl: null })],
    ['upper case', createUrlMapper({ upstream: 'HTTPS://Zenzefi.Internal:61000', backendUrl: PUBLIC, localUrl: null })],
    ['IPv6', createUrlMapper({ upstream: 'https://[fd00::7]:61000', backendUrl: PUBLIC, localUrl: null })],
    ['desktop, another port', createUrlMapper({ upstream: 'https://zenzefi.internal:61000', backendUrl: PUBLIC, localUrl: 'https://localhost:61001' })],
  ]
  for (const [label, mapper] of mappers) {
    it(`never names the upstream host (${label})`, async () => {
      const up = new URL(mapper.upstreamOrigins[0]!)
      const leaks = (s: string) => [up.host, up.hostname].some((h) => s.toLowerCase().includes(h.toLowerCase()))
      expect(leaks(shimScript(mapper))).toBe(false)
      // The page as served: injected markup and all (the page itself names no upstream URL).
      const page = await html('<!doctype html><html><head><title>t</title></head><body><a href="/a">a</a><script>fetch("/x")</script></body></html>', mapper)
      expect(page.includes('data-zenzefi-shim')).toBe(!mapper.desktop)
      expect(leaks(page)).toBe(false)
    })
  }
})
