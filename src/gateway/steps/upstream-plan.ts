// What Zenzefi is asked: the path under ZENZEFI_TARGET_URL's own path, and the
// headers it sees — no hop-by-hop headers, none of our credentials, the identity
// headers set by us — plus the URL mapper the answer is rewritten with.
import type { Config } from '../../config'
import { upstreamRequestHeaders } from '../headers'
import type { MapperSelector } from '../mappers'
import type { ProxyState, Step } from '../pipeline'
import { withoutCredentialParams } from '../token-source'

/** `ws` and workerd write these on the upstream handshake themselves; a client copy would clash. */
const isHandshakeHeader = (name: string) => name.toLowerCase().replace(/_/g, '-').startsWith('sec-websocket-')

export function upstreamPlan(deps: {
  config: Config
  mapperFor: MapperSelector
  isOwnCredential: (authorization: string) => boolean | Promise<boolean>
}): Step {
  const target = new URL(deps.config.zenzefiTargetUrl)
  const basePath = target.pathname.replace(/\/+$/, '')
  return {
    name: 'upstream-plan',
    run(state) {
      // Decided once, up front: the header rules are synchronous and the check may not be (WebCrypto on
      // Workers). Without an Authorization header, or with Node's synchronous check, there is no await.
      const authorization = state.req.header('authorization')
      const own = authorization ? deps.isOwnCredential(authorization) : false
      if (typeof own !== 'boolean') return own.then((o) => plan(state, o))
      plan(state, own)
      return undefined
    },
  }

  function plan(state: ProxyState, own: boolean): undefined {
    const { req, auth, presented } = state
    const websocket = req.kind === 'websocket'
    let pairs = req.headerPairs()
    if (websocket) pairs = pairs.filter(([name]) => !isHandshakeHeader(name))
    const headers = upstreamRequestHeaders(pairs, {
      upstreamHost: target.host,
      clientIp: req.clientIp,
      proto: req.proto,
      clientHost: req.header('host') ?? null,
      userId: auth!.grant.userId,
      tokenId: auth!.grant.tokenId,
      isOwnCredential: () => own,
    })
    // Ours, valid by construction: the client's own copy (any spelling) was dropped above with the identity headers.
    headers['x-request-id'] = req.requestId
    state.plan = {
      // Upgrades may carry `?token=` (a token source) or `?launch=` (never redeemed there); neither is Zenzefi's.
      // HTTP keeps its query byte for byte: a `?token=` or `?launch=` there was answered by query-token or launch-code.
      target: basePath + req.path + (websocket ? withoutCredentialParams(req.search) : req.search),
      headers,
      framing: state.framing,
      grant: auth!.grant,
      hash: auth!.hash,
      source: presented!.source,
      mapper: deps.mapperFor(req.header('x-local-url')),
      corsOrigin: state.corsOrigin,
      protocols: websocket ? (req.header('sec-websocket-protocol') ?? null) : null,
    }
    return undefined
  }
}
