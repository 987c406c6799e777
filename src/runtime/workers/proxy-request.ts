// A Web Request as the shared pipeline sees it. Workers have no socket of their own:
// the client's address is what Cloudflare says it is (CF-Connecting-IP), decided in main.ts.
import type { HeaderPair } from '../../gateway/headers'
import type { ProxyKind, ProxyRequest } from '../../gateway/pipeline'
import type { RequestMeta } from '../../gateway/request-id'

export function webProxyRequest(request: Request, kind: ProxyKind, route: { path: string; search: string }, meta: RequestMeta): ProxyRequest {
  return {
    kind,
    method: request.method,
    path: route.path,
    search: route.search,
    header: (n) => request.headers.get(n),
    headerPairs: () => [...request.headers] as HeaderPair[],
    clientIp: meta.clientIp,
    requestId: meta.requestId,
    proto: new URL(request.url).protocol === 'https:' ? 'https' : 'http',
  }
}
