import { describe, expect, it } from 'vitest'
import { routeOf } from '../../src/gateway/front-door'

describe('the front door', () => {
  it('sends everything under the proxy prefix to the pipeline, with the path after the prefix', () => {
    expect(routeOf('GET', '/api/v1/proxy/app/index.html?x=1')).toEqual({ kind: 'proxy', path: '/app/index.html', search: '?x=1' })
    expect(routeOf('GET', '/api/v1/proxy')).toEqual({ kind: 'proxy', path: '/', search: '' })
    expect(routeOf('POST', '/api/v1/proxy/')).toEqual({ kind: 'proxy', path: '/', search: '' })
  })

  it('keeps the three cookie endpoints on the API, only for their own method', () => {
    expect(routeOf('POST', '/api/v1/proxy/authenticate')).toEqual({ kind: 'api' })
    expect(routeOf('GET', '/api/v1/proxy/status')).toEqual({ kind: 'api' })
    expect(routeOf('DELETE', '/api/v1/proxy/logout')).toEqual({ kind: 'api' })
    // Zenzefi's own paths of the same name, with other methods, are Zenzefi's.
    expect(routeOf('GET', '/api/v1/proxy/authenticate').kind).toBe('proxy')
    expect(routeOf('POST', '/api/v1/proxy/status').kind).toBe('proxy')
  })

  it('does not mistake a longer first segment for the prefix', () => {
    expect(routeOf('GET', '/api/v1/proxyx/a')).toEqual({ kind: 'api' })
    expect(routeOf('GET', '/api/v1/users/me')).toEqual({ kind: 'api' })
  })

  it('routes absolute-form targets and dot segments as their plain spelling (one route, never a second one)', () => {
    expect(routeOf('GET', 'http://evil.example/api/v1/proxy/a?b=1')).toEqual({ kind: 'proxy', path: '/a', search: '?b=1' })
    // Climbing out of the prefix lands on the API, as a browser's URL parser would resolve it.
    expect(routeOf('GET', '/api/v1/proxy/../users/me')).toEqual({ kind: 'api' })
    expect(routeOf('GET', '/api/v1/proxy/%2e%2e/users/me')).toEqual({ kind: 'api' })
    expect(routeOf('GET', '/api/v1/proxy/a/%2E%2e/b')).toEqual({ kind: 'proxy', path: '/b', search: '' })
    // A cookie endpoint spelled with a dot segment is still the cookie endpoint.
    expect(routeOf('GET', '/api/v1/proxy/x/../status')).toEqual({ kind: 'api' })
  })

  it('refuses what is no request-target at all', () => {
    expect(routeOf('OPTIONS', '*')).toEqual({ kind: 'invalid' })
    expect(routeOf('GET', 'example.com:443')).toEqual({ kind: 'invalid' })
  })
})
