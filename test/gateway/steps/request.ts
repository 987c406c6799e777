import type { ProxyRequest } from '../../../src/gateway/pipeline'

/** A proxied request as a runtime would hand it to the pipeline. */
export function proxyRequest(over: Partial<Omit<ProxyRequest, 'header' | 'headerPairs'>> & { headers?: Record<string, string> } = {}): ProxyRequest {
  const { headers = {}, ...rest } = over
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  return {
    kind: 'http',
    method: 'GET',
    path: '/x',
    search: '',
    clientIp: '127.0.0.1',
    requestId: 'test-request-id',
    proto: 'http',
    ...rest,
    header: (name) => lower[name],
    headerPairs: () => Object.entries(headers),
  }
}
