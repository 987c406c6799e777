// The one request pipeline for proxied traffic: every proxied HTTP request and
// WebSocket upgrade, on Node and on Workers, walks the same ordered list of named
// steps. A step either lets the request go on (returns nothing) or answers it
// itself (returns a Reply). The last step leaves an upstream plan; the runtime's
// transport then carries it out. Steps see a platform-free request, so a step
// added here works on both runtimes at once (docs/architecture.md).

import type { TokenGrant } from '../cache/interface'
import type { Config } from '../config'
import type { UrlMapper } from '../rewrite/url-mapper'
import type { LaunchCodes } from '../services/launch-codes'
import { isPromise } from '../services/maybe-async'
import type { TokenService } from '../services/tokens'
import { forRequest, type Reply } from './answers'
import { corsPolicy } from './cors'
import type { DeviceSessions, SessionMeter } from './device-sessions'
import type { HeaderPair, requestBodyFraming } from './headers'
import type { LiveSessions } from './live-sessions'
import { createMapperSelector } from './mappers'
import { authorize } from './steps/authorize'
import { bodyFraming } from './steps/body-framing'
import { deviceSession } from './steps/device-session'
import { launchCode } from './steps/launch-code'
import { preflight } from './steps/preflight'
import { queryToken } from './steps/query-token'
import { type ProxyLimits, rateLimit } from './steps/rate-limit'
import { serviceWorkers } from './steps/service-worker'
import { sourceMaps } from './steps/source-maps'
import { tokenSource } from './steps/token-source'
import { upstreamPlan } from './steps/upstream-plan'
import { websocketCap } from './steps/websocket-cap'
import { websocketOrigin } from './steps/websocket-origin'
import type { PresentedToken, TokenSource } from './token-source'

export type ProxyKind = 'http' | 'websocket'
export type BodyFraming = ReturnType<typeof requestBodyFraming>

/** A proxied request as every step sees it, whatever runtime received it. */
export interface ProxyRequest {
  kind: ProxyKind
  method: string
  /** The normalised path after /api/v1/proxy, starting with '/'. */
  path: string
  /** The raw query string with its '?', or ''. */
  search: string
  /** One header's value (repeats joined), by lower-case name. */
  header(name: string): string | null | undefined
  /** Every header as sent, in order. */
  headerPairs(): HeaderPair[]
  /** The client's address as the front door decided it (src/gateway/client-address.ts): never a header an untrusted peer chose. */
  clientIp: string
  /** This request's X-Request-Id (src/gateway/request-id.ts): on the answer, forwarded to Zenzefi, in every log line. */
  requestId: string
  /** How the client reached us. */
  proto: 'http' | 'https'
}

/** What Zenzefi is asked, decided in shared code; the transports only carry it out. */
export interface UpstreamPlan {
  /** Path and query on the Zenzefi host, under ZENZEFI_TARGET_URL's own path. */
  target: string
  /** The request headers Zenzefi sees (no framing: the transport frames the body). */
  headers: Record<string, string>
  /** The body as the client framed it; the transport forwards it framed the same way. */
  framing: BodyFraming
  grant: TokenGrant
  /** The token's lookup hash: live sessions are kept by it. */
  hash: string
  source: TokenSource
  mapper: UrlMapper
  /** An allowed Origin to echo on the answer, or null. */
  corsOrigin: string | null
  /** WebSocket upgrades: the subprotocols the client offered, as sent. */
  protocols: string | null
}

/** What the steps have learnt so far about one request. */
export interface ProxyState {
  readonly req: ProxyRequest
  corsOrigin: string | null
  framing: BodyFraming
  presented: PresentedToken | null
  auth: { hash: string; grant: TokenGrant } | null
  plan: UpstreamPlan | null
  /** This device's proxy session (device-session step): the transport reports bytes and sockets to it. */
  session: SessionMeter | null
  /** A Set-Cookie for the answer: the device cookie, for a client that has none yet. */
  setCookie: string | null
  /** Gives back what a step holds for this request (rate-limit's in-flight place); safe to call more than once. */
  release: () => void
}

export type StepResult = Reply | undefined
export interface Step {
  readonly name: string
  /** Only for this kind of request; both when absent. */
  readonly on?: ProxyKind
  run(state: ProxyState): StepResult | Promise<StepResult>
}

/** A reply carries its X-Request-Id already, and the grant when a step after `authorize` answered. */
export type ProxyOutcome =
  | { kind: 'reply'; reply: Reply; step: string; grant: TokenGrant | null }
  | { kind: 'forward'; plan: UpstreamPlan; release: () => void; session: SessionMeter | null; setCookie: string | null }

const NO_BODY: BodyFraming = { kind: 'none' }
const NOTHING_HELD = () => {}

export function createPipeline(steps: Step[], originOf: (origin: string | null | undefined) => string | null) {
  return {
    /** The step names in order, for docs and tests. */
    names: steps.map((s) => s.name),
    async run(req: ProxyRequest): Promise<ProxyOutcome> {
      const state: ProxyState = {
        req,
        corsOrigin: originOf(req.header('origin')),
        framing: NO_BODY,
        presented: null,
        auth: null,
        plan: null,
        session: null,
        setCookie: null,
        release: NOTHING_HELD,
      }
      try {
        for (const step of steps) {
          if (step.on !== undefined && step.on !== req.kind) continue
          let result = step.run(state)
          // Most steps are synchronous: no await (and no microtask) for them.
          if (isPromise(result)) result = await result
          if (result !== undefined) {
            // An answer of ours ends the request here: what a step held for it is given back.
            state.release()
            return { kind: 'reply', reply: forRequest(result as Reply, req.requestId), step: step.name, grant: state.auth?.grant ?? null }
          }
        }
        if (!state.plan) throw new Error('proxy pipeline ended without an upstream plan')
      } catch (err) {
        state.release()
        throw err
      }
      // The transport passes `release` to its live session, which calls it once the request is over, however it ends.
      return { kind: 'forward', plan: state.plan, release: state.release, session: state.session, setCookie: state.setCookie }
    },
  }
}

export interface PipelineDeps {
  config: Config
  tokens: TokenService
  sessions: LiveSessions
  now: () => number
  /** True for an Authorization value that carries our own JWT (synchronous on Node, WebCrypto on Workers). */
  isOwnCredential: (authorization: string) => boolean | Promise<boolean>
  /** Per-token rate and in-flight limits (null: RATE_LIMITS=off). */
  proxyLimits: ProxyLimits | null
  /** Proxy sessions and the device limit (null: PROXY_SESSIONS=off). */
  devices?: DeviceSessions | null
  /** "Open Zenzefi" from the account page: `?launch=<code>` traded for the access cookie. */
  launchCodes?: LaunchCodes | null
}

/** The gateway's pipeline, in order. */
export function createProxyPipeline(deps: PipelineDeps) {
  const cors = corsPolicy(deps.config)
  const mapperFor = createMapperSelector(deps.config)
  return createPipeline(
    [
      preflight(cors),
      bodyFraming(),
      sourceMaps(),
      serviceWorkers(),
      queryToken({ config: deps.config, tokens: deps.tokens, mapperFor, now: deps.now }),
      ...(deps.launchCodes ? [launchCode({ config: deps.config, tokens: deps.tokens, codes: deps.launchCodes, mapperFor, now: deps.now })] : []),
      tokenSource(),
      websocketOrigin(deps.config),
      authorize(deps.tokens, deps.now),
      rateLimit(deps.proxyLimits, deps.now),
      deviceSession(deps.devices ?? null),
      // Steps that need the authorized token go here: lock, metering, audit.
      // RATE_LIMITS=off lifts the socket cap too (load tests open many sockets on one token).
      websocketCap({ sessions: deps.sessions, max: deps.config.rateLimits ? deps.config.wsMaxPerToken : Number.POSITIVE_INFINITY }),
      upstreamPlan({ config: deps.config, mapperFor, isOwnCredential: deps.isOwnCredential }),
    ],
    cors.originOf,
  )
}

export type ProxyPipeline = ReturnType<typeof createProxyPipeline>
