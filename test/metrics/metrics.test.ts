import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, metricsAddress } from '../../src/config'
import { gatewayMetrics, routeTemplate, statusClassIndex } from '../../src/metrics/gateway'
import { noopMetrics } from '../../src/metrics/interface'
import { createNodeMetrics, metricsTokenCheck, nodeMetricsFor } from '../../src/runtime/node/metrics'
import { parseExposition, seriesKey, seriesValue } from './prom-text'

describe('metrics port', () => {
  it('the no-op takes every call', () => {
    const g = gatewayMetrics(noopMetrics)
    g.proxied('direct', 200, 10, 20)
    g.wsOpen.inc()
    g.api('/x', 'GET').duration.observe(0.1)
    expect(gatewayMetrics(noopMetrics)).toBe(g)
  })

  it('binds the gateway series once per instance, every counter exported at 0 from the start', async () => {
    const m = createNodeMetrics()
    const g = gatewayMetrics(m)
    expect(gatewayMetrics(m)).toBe(g)
    g.proxied('desktop', 302, 3, 4)
    g.tokenChecks.redis.miss.inc()
    const e = parseExposition(await m.scrape())
    expect(seriesValue(e, 'zenzefi_proxy_requests_total', { mode: 'desktop', status_class: '3xx' })).toBe(1)
    expect(e.samples.get('zenzefi_proxy_requests_total{mode="websocket",status_class="5xx"}')).toBe(0)
    expect(e.samples.get('zenzefi_rate_limited_total{policy="login_lock"}')).toBe(0)
    expect(seriesValue(e, 'zenzefi_proxy_bytes_total', { direction: 'out' })).toBe(4)
    expect(seriesValue(e, 'zenzefi_token_checks_total', { tier: 'redis', result: 'miss' })).toBe(1)
  })

  it('histograms: cumulative buckets, +Inf, sum and count, every bound series exported from the start', async () => {
    const m = createNodeMetrics()
    const g = gatewayMetrics(m)
    const api = g.api('/api/v1/x', 'GET')
    const empty = parseExposition(await m.scrape())
    expect(seriesValue(empty, 'zenzefi_http_request_duration_seconds_count', { route: '/api/v1/x', method: 'GET' })).toBe(0)
    expect(empty.samples.get('zenzefi_upstream_duration_seconds_bucket{le="+Inf"}')).toBe(0)
    for (const s of [0.0005, 0.001, 0.003, 0.003, 45, 100]) g.upstreamDuration.observe(s)
    api.duration.observe(0.2)
    expect(() => g.upstreamDuration.observe(Number.NaN)).toThrow(TypeError)
    const e = parseExposition(await m.scrape())
    const bucket = (le: string) => e.samples.get(`zenzefi_upstream_duration_seconds_bucket{le="${le}"}`)
    expect([bucket('0.001'), bucket('0.0025'), bucket('0.005'), bucket('30'), bucket('60'), bucket('+Inf')]).toEqual([2, 2, 4, 4, 5, 6])
    expect(e.samples.get('zenzefi_upstream_duration_seconds_count')).toBe(6)
    expect(e.samples.get('zenzefi_upstream_duration_seconds_sum')).toBeCloseTo(145.0075, 10)
    const apiBucket = (le: string) => e.samples.get(seriesKey('zenzefi_http_request_duration_seconds_bucket', { route: '/api/v1/x', method: 'GET', le }))
    expect([apiBucket('0.1'), apiBucket('0.25'), apiBucket('+Inf')]).toEqual([0, 1, 1])
    expect(e.types.get('zenzefi_upstream_duration_seconds')).toBe('histogram')
    m.registry.resetMetrics()
    const cleared = parseExposition(await m.scrape())
    expect([cleared.samples.get('zenzefi_upstream_duration_seconds_count'), cleared.samples.get('zenzefi_upstream_duration_seconds_sum')]).toEqual([0, 0])
  })

  it('route templates and status classes', () => {
    expect(routeTemplate('/api/v1/tokens/:token_id')).toBe('/api/v1/tokens/{token_id}')
    expect(routeTemplate('/health')).toBe('/health')
    expect([101, 204, 304, 404, 503, 0, 999].map(statusClassIndex)).toEqual([0, 1, 2, 3, 4, 4, 4])
  })
})

describe('configuration', () => {
  it('METRICS_ADDR: host:port, [v6]:port, off; the default is loopback 9464', () => {
    expect(metricsAddress(undefined)).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(metricsAddress('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 })
    expect(metricsAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 })
    expect(metricsAddress('off')).toBeNull()
    for (const bad of ['9464', 'host:', 'h:0', 'h:70000', '::1:9464']) expect(() => metricsAddress(bad)).toThrow(ConfigError)
    const c = loadConfig({ SECRET_KEY: 'x', METRICS_ADDR: 'off', METRICS_TOKEN: ' t ' })
    expect(c.metricsAddr).toBeNull()
    expect(c.metricsToken).toBe('t')
  })

  it('nothing readable → the no-op (no cost); a listener or a token → prom-client', () => {
    expect(nodeMetricsFor({ metricsAddr: null, metricsToken: null })).toBe(noopMetrics)
    expect(nodeMetricsFor({ metricsAddr: null, metricsToken: 't' })).not.toBe(noopMetrics)
  })

  it('the token check wants exactly Bearer <token>', () => {
    const ok = metricsTokenCheck('s3cret')
    expect(ok('Bearer s3cret')).toBe(true)
    expect(ok('Bearer s3cre')).toBe(false)
    expect(ok('bearer s3cret')).toBe(false)
    expect(ok('s3cret')).toBe(false)
    expect(ok(undefined)).toBe(false)
  })
})
