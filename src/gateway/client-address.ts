// Who the client is, decided once at the front door of either runtime (contract:
// "Abuse controls and observability"). On Node it is the socket's peer, unless that
// peer is one of TRUSTED_PROXY_CIDRS: then X-Forwarded-For is read from the right,
// skipping the trusted hops, and the first untrusted address is the client (every hop
// trusted: the leftmost). On Workers it is CF-Connecting-IP, which Cloudflare sets.
// Addresses come out normalised (IPv4-mapped IPv6 as plain IPv4, IPv6 in RFC 5952 form).

import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6
type Range = [Address, number]

const DOTTED_QUAD = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?$/i

/** One address, strictly: four-part decimal IPv4 or IPv6; `[v6]`, `[v6]:port` and `v4:port` (as some proxies write them) accepted. */
function parseAddress(text: string): Address | null {
  let s = text.trim()
  // The common shapes (a peer as Node reports it on an IPv4 or a dual-stack listener) without the IPv6 parser.
  const quad = DOTTED_QUAD.exec(s)
  if (quad) return ipaddr.IPv4.isValidFourPartDecimal(quad[1]!) ? ipaddr.IPv4.parse(quad[1]!) : null
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s)
  if (bracketed) s = bracketed[1]!
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s)
  let v6: ipaddr.IPv6
  try {
    v6 = ipaddr.IPv6.parse(s)
  } catch {
    return null
  }
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6
}

/** An address as we write it (logs, X-Forwarded-For), or null when it is not one. */
export function normaliseAddress(text: string | null | undefined): string | null {
  if (!text) return null
  const a = parseAddress(text)
  return a ? a.toString() : null
}

/**
 * A comma-separated CIDR list (TRUSTED_PROXY_CIDRS) as normalised `address/prefix`
 * strings; a bare address is its own /32 or /128. Throws naming the first bad entry.
 */
export function parseCidrList(list: string | null | undefined): string[] {
  if (!list) return []
  const out: string[] = []
  for (const raw of list.split(',')) {
    const entry = raw.trim()
    if (!entry) continue
    const range = parseRange(entry)
    if (!range) throw new Error(`"${entry}" is not an IPv4 or IPv6 CIDR`)
    out.push(`${range[0].toString()}/${range[1]}`)
  }
  return out
}

function parseRange(entry: string): Range | null {
  const slash = entry.indexOf('/')
  const addressText = slash === -1 ? entry : entry.slice(0, slash)
  const prefixText = slash === -1 ? null : entry.slice(slash + 1)
  if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) {
    const bits = prefixText === null ? 32 : prefixOf(prefixText, 32)
    return bits === null ? null : [ipaddr.IPv4.parse(addressText), bits]
  }
  if (!ipaddr.IPv6.isValid(addressText) || addressText.includes('%')) return null
  const bits = prefixText === null ? 128 : prefixOf(prefixText, 128)
  if (bits === null) return null
  const v6 = ipaddr.IPv6.parse(addressText)
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are compared as IPv4 once unmapped.
  if (v6.isIPv4MappedAddress() && bits >= 96) return [v6.toIPv4Address(), bits - 96]
  return [v6, bits]
}

function prefixOf(text: string, max: number): number | null {
  if (!/^\d{1,3}$/.test(text)) return null
  const n = Number(text)
  return n <= max ? n : null
}

export type ClientAddressOf = ((peer: string | null | undefined, forwardedFor: string | null | undefined) => string) & {
  /** Is this socket peer one of ours (TRUSTED_PROXY_CIDRS), whose X-Forwarded-* headers we believe? */
  trustsPeer(peer: string | null | undefined): boolean
}

/**
 * The client-address rule for a socket front door, with the trusted ranges compiled once.
 * `peer` is the socket's remote address; `forwardedFor` is X-Forwarded-For (repeats joined with ',').
 * An entry that is not an address ends the walk: the nearest hop we could check is the client.
 */
export function createClientAddress(trustedCidrs: readonly string[]): ClientAddressOf {
  const ranges = trustedCidrs.map((c) => {
    const r = parseRange(c)
    if (!r) throw new Error(`"${c}" is not an IPv4 or IPv6 CIDR`)
    return r
  })
  const trusted = (a: Address) => ranges.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits))
  // Peers repeat (keep-alive, the same clients and proxies): their parsed form is remembered, within a bound.
  const peers = new Map<string, Address | null>()
  const peerOf = (text: string): Address | null => {
    let a = peers.get(text)
    if (a === undefined) {
      if (peers.size >= 4096) peers.clear()
      peers.set(text, (a = parseAddress(text)))
    }
    return a
  }
  const trustsPeer = (peerText: string | null | undefined) => {
    const peer = peerText && ranges.length > 0 ? peerOf(peerText) : null
    return peer !== null && trusted(peer)
  }
  const of = (peerText: string | null | undefined, forwardedFor: string | null | undefined) => {
    const peer = peerText ? peerOf(peerText) : null
    if (!peer) return peerText ?? ''
    if (ranges.length === 0 || !forwardedFor || !trusted(peer)) return peer.toString()
    let client = peer
    const hops = forwardedFor.split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim()
      if (hop === '') continue
      const a = parseAddress(hop)
      if (!a) break
      client = a
      if (!trusted(a)) break
    }
    return client.toString()
  }
  return Object.assign(of, { trustsPeer })
}

/**
 * How the client reached us: what a trusted proxy in front says (the last X-Forwarded-Proto
 * hop, if it is http or https), otherwise our own socket's protocol.
 */
export function forwardedProto(trusted: boolean, header: string | null | undefined, ownSocket: 'http' | 'https'): 'http' | 'https' {
  if (!trusted || !header) return ownSocket
  const last = header.split(',').at(-1)!.trim().toLowerCase()
  return last === 'https' || last === 'http' ? last : ownSocket
}

/** Workers: Cloudflare's word for the client (CF-Connecting-IP), normalised; '' without one. */
export function cloudflareClientAddress(cfConnectingIp: string | null | undefined): string {
  return normaliseAddress(cfConnectingIp) ?? ''
}
