// This instance's proxy sessions in memory: (token, device) → session. A repeat
// request is answered from here with no database access; only a new pair (or one
// idle past SESSION_IDLE_SECONDS) goes to the database. Requests, bytes, sockets and
// the last address are counted here and written in batches (flush), never per request.
// Terminating a session is broadcast on the token cache's invalidation channel as
// `session:<id>`, so every instance closes that device's sockets and streams.

import type { TokenCache, TokenGrant } from '../cache/interface'
import type { Config } from '../config'
import type { Logger } from '../logger'
import type { FlushRow, SessionService } from '../services/sessions'
import { type Device, deviceCookie, deviceKeyInput, newDeviceCookieValue } from './device'
import type { CloseReason } from './live-sessions'
import { OpenList } from './open-list'

/** What a transport reports about one proxied request or socket of a session. */
export interface SessionMeter {
  /** Bytes of one finished request (in: from the client, out: to it), or a socket's whole traffic. */
  add(bytesIn: number | null | undefined, bytesOut: number | null | undefined): void
  /** A stream or socket of this device, closed if its session is terminated; call the result when it ends. */
  track(close: (reason: CloseReason) => void, kind: 'stream' | 'websocket'): () => void
}

const SESSION_MESSAGE = 'session:'

/** What a terminate publishes on the invalidation channel, so every instance closes that device's streams (also from the CLI). */
export const sessionEndedMessage = (id: string) => SESSION_MESSAGE + id
/** How long a refused (token, device) is answered from memory before asking the database again. */
const REFUSAL_MEMO_MS = 1_000
const MAX_MEMO = 10_000

export class LiveSession implements SessionMeter {
  requests = 0
  bytesIn = 0
  bytesOut = 0
  websockets = 0
  /** Streams and sockets open now: while any is, the session is not idle. */
  open = 0
  lastIp: string | null = null
  dirty = false
  ended = false
  keys: string[] = []
  /** The Set-Cookie for answers to this device while it has no device cookie (one value, however many answers). */
  cookie: string | null = null
  readonly closers = new OpenList<(reason: CloseReason) => void>()
  constructor(
    readonly id: string,
    readonly tokenId: string,
    readonly hash: string,
    public lastSeen: number,
  ) {}

  add(bytesIn: number | null | undefined, bytesOut: number | null | undefined) {
    if (bytesIn) this.bytesIn += bytesIn
    if (bytesOut) this.bytesOut += bytesOut
    this.dirty = true
  }

  track(close: (reason: CloseReason) => void, kind: 'stream' | 'websocket'): () => void {
    const slot = this.closers.add(close)
    this.open++
    if (kind === 'websocket') this.websockets++
    this.dirty = true
    let tracked = true
    return () => {
      if (!tracked) return
      tracked = false
      this.closers.remove(slot)
      this.open--
      if (kind === 'websocket') this.websockets--
      this.dirty = true
    }
  }
}

export type Admission = { session: LiveSession; setCookie: string | null } | { refused: number } | { gone: true }

export interface DeviceSessionsDeps {
  service: SessionService
  config: Config
  cache: TokenCache
  now: () => number
  hash: (text: string) => string | Promise<string>
  log: Logger
  /** Concurrent first requests of one pair share one database round (not on Workers, where I/O belongs to its request). */
  shareInFlight: boolean
}

export function createDeviceSessions(deps: DeviceSessionsDeps) {
  const { service, config } = deps
  // RATE_LIMITS=off lifts the device limit too (load tests use one token from many clients).
  const limit = config.rateLimits ? config.deviceLimit : 0
  const idleMs = config.sessionIdleSeconds * 1000
  const flushMs = config.sessionFlushSeconds * 1000
  const byKey = new Map<string, LiveSession>()
  const byId = new Map<string, LiveSession>()
  /** Dropped from the maps with counts not yet written: the next flush takes them. */
  let retired: LiveSession[] = []
  /** Refused pairs: until when the refusal is repeated from memory, and when a place was said to free up. */
  const refusals = new Map<string, { until: number; retryAt: number }>()
  const pending = new Map<string, Promise<Admission>>()
  let lastFlush = deps.now()
  let flushing = false

  const stale = (s: LiveSession, t: number) => s.ended || (s.open === 0 && t - s.lastSeen >= idleMs)

  const drop = (s: LiveSession) => {
    for (const k of s.keys) if (byKey.get(k) === s) byKey.delete(k)
    if (byId.get(s.id) === s) byId.delete(s.id)
    if (s.dirty) retired.push(s)
  }

  const end = (s: LiveSession, close: boolean) => {
    s.ended = true
    drop(s)
    if (!close) return
    for (const c of s.closers.values()) {
      try {
        c('revoked')
      } catch {
        // already gone
      }
    }
  }

  deps.cache.onInvalidate((messages) => {
    for (const m of messages) {
      if (m.startsWith(SESSION_MESSAGE)) {
        // A place may be free now: refused devices ask the database again (terminations are rare).
        refusals.clear()
        const s = byId.get(m.slice(SESSION_MESSAGE.length))
        if (s) end(s, true)
        continue
      }
      // A revoked token: live-sessions closes its streams; its sessions here are over (the sweeper ends the rows).
      for (const s of byId.values()) if (s.hash === m) end(s, false)
    }
  })

  const admit = (s: LiveSession, device: Device, clientIp: string, t: number): Admission => {
    s.requests++
    s.lastSeen = t
    s.lastIp = clientIp
    s.dirty = true
    if (device.source !== 'address') return { session: s, setCookie: null }
    s.cookie ??= deviceCookie(newDeviceCookieValue(), config)
    return { session: s, setCookie: s.cookie }
  }

  async function open(
    key: string,
    device: Device,
    req: { clientIp: string; userAgent: string | null; requestId: string },
    auth: { hash: string; grant: TokenGrant },
  ): Promise<Admission> {
    const [deviceKey, addressKey] = await Promise.all([
      deps.hash(deviceKeyInput(device)),
      device.source === 'cookie' ? deps.hash(deviceKeyInput({ source: 'address', raw: `${req.clientIp}\n${req.userAgent ?? ''}` })) : null,
    ])
    const result = await service.start({
      tokenId: auth.grant.tokenId,
      userId: auth.grant.userId,
      deviceKey,
      deviceSource: device.source,
      addressKey,
      ip: req.clientIp,
      userAgent: req.userAgent,
      requestId: req.requestId,
      limit,
      idleSeconds: config.sessionIdleSeconds,
    })
    const t = deps.now()
    if (result.kind === 'gone') return { gone: true }
    if (result.kind === 'refused') {
      if (refusals.size >= MAX_MEMO) refusals.clear()
      refusals.set(key, { until: t + REFUSAL_MEMO_MS, retryAt: t + result.retryAfterSeconds * 1000 })
      return { refused: result.retryAfterSeconds }
    }
    // Another key of this device (its address before it had our cookie) may hold the session already: one object per session.
    let s = byId.get(result.id)
    if (!s || s.ended) {
      s = new LiveSession(result.id, auth.grant.tokenId, auth.hash, t)
      byId.set(s.id, s)
    }
    if (!s.keys.includes(key)) s.keys.push(key)
    byKey.set(key, s)
    refusals.delete(key)
    return admit(s, device, req.clientIp, t)
  }

  return {
    limit,

    /** The session for this request: from memory (synchronous) when this pair is known here, else from the database. */
    admit(
      device: Device,
      req: { clientIp: string; header(name: string): string | null | undefined; requestId: string },
      auth: { hash: string; grant: TokenGrant },
    ): Admission | Promise<Admission> {
      const key = `${auth.grant.tokenId}\n${device.source}\n${device.raw}`
      const t = deps.now()
      const s = byKey.get(key)
      if (s !== undefined) {
        if (!stale(s, t)) return admit(s, device, req.clientIp, t)
        drop(s)
      }
      const refused = refusals.get(key)
      if (refused !== undefined) {
        if (refused.until > t) return { refused: Math.max(1, Math.ceil((refused.retryAt - t) / 1000)) }
        refusals.delete(key)
      }
      const info = { clientIp: req.clientIp, userAgent: req.header('user-agent') ?? null, requestId: req.requestId }
      if (!deps.shareInFlight) return open(key, device, info, auth)
      const waiting = pending.get(key)
      // Requests that waited on another's round are counted as themselves.
      if (waiting) return waiting.then((a) => ('session' in a ? admit(a.session, device, req.clientIp, deps.now()) : a))
      const started = open(key, device, info, auth).finally(() => pending.delete(key))
      pending.set(key, started)
      return started
    },

    /** True when counts are waiting and SESSION_FLUSH_SECONDS have passed since the last flush (Workers flush inside a request). */
    due(): boolean {
      return deps.now() - lastFlush >= flushMs && (retired.length > 0 || byId.size > 0)
    },

    /** Writes what was counted since the last flush, in one statement; forgets sessions idle here. */
    async flush(): Promise<number> {
      if (flushing) return 0
      flushing = true
      const t = deps.now()
      lastFlush = t
      const batch: LiveSession[] = []
      const rows = new Map<string, FlushRow>()
      const take = (s: LiveSession) => {
        // A socket or a download still open keeps its session seen.
        if (!s.dirty && s.open === 0) return
        const row = rows.get(s.id) ?? { id: s.id, requests: 0, bytesIn: 0, bytesOut: 0, websocketsOpen: 0, lastIp: null, lastSeen: 0 }
        row.requests += s.requests
        row.bytesIn += s.bytesIn
        row.bytesOut += s.bytesOut
        row.websocketsOpen += s.websockets
        row.lastIp = s.lastIp ?? row.lastIp
        row.lastSeen = Math.max(row.lastSeen, s.open > 0 ? t : s.lastSeen)
        rows.set(s.id, row)
        s.requests = s.bytesIn = s.bytesOut = 0
        s.dirty = false
        batch.push(s)
      }
      const gone = retired
      retired = []
      for (const s of gone) take(s)
      for (const s of byId.values()) take(s)
      try {
        const ended = rows.size ? await service.flush([...rows.values()]) : []
        // Ended elsewhere (terminated, swept): what this device still has open here closes too — also where no
        // broadcast reaches (Workers isolates), within a flush.
        for (const id of ended) {
          const s = byId.get(id)
          if (s) end(s, true)
        }
      } catch (err) {
        // Counted again next time: nothing is lost to a failed write.
        for (const s of batch) {
          const row = rows.get(s.id)
          if (!row) continue
          rows.delete(s.id)
          s.requests += row.requests
          s.bytesIn += row.bytesIn
          s.bytesOut += row.bytesOut
          s.dirty = true
          if (!byId.has(s.id) || byId.get(s.id) !== s) retired.push(s)
        }
        deps.log.warn('proxy session counts not written; retrying at the next flush', { error: err })
      } finally {
        flushing = false
      }
      for (const s of [...byId.values()]) if (!s.dirty && stale(s, t)) drop(s)
      return rows.size
    },

    /** Sessions the sweeper ended: forgotten here (their counts still go out at the next flush). */
    forget(ids: string[]) {
      if (ids.length) refusals.clear()
      for (const id of ids) {
        const s = byId.get(id)
        if (s) end(s, false)
      }
    },

    /** Tell every instance a session was terminated: each closes that device's sockets and streams. */
    announceTerminated(id: string): Promise<void> {
      return deps.cache.invalidate([SESSION_MESSAGE + id])
    },

    /** What this instance has counted for a session and not yet written, for listings. */
    unflushed(id: string): { requests: number; bytesIn: number; bytesOut: number; websockets: number; lastSeen: number } | null {
      const s = byId.get(id)
      return s ? { requests: s.requests, bytesIn: s.bytesIn, bytesOut: s.bytesOut, websockets: s.websockets, lastSeen: s.lastSeen } : null
    },

    get size() {
      return byId.size
    },
  }
}

export type DeviceSessions = ReturnType<typeof createDeviceSessions>
