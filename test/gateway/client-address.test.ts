// The client-address rule on its own (src/gateway/client-address.ts) and its setting.
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config'
import { cloudflareClientAddress, createClientAddress, normaliseAddress, parseCidrList } from '../../src/gateway/client-address'

describe('without trusted proxies (the default)', () => {
  const clientOf = createClientAddress([])
  it('the socket peer is the client, whatever X-Forwarded-For says', () => {
    expect(clientOf('127.0.0.1', '6.6.6.6')).toBe('127.0.0.1')
    expect(clientOf('203.0.113.5', undefined)).toBe('203.0.113.5')
  })
  it('an IPv4-mapped IPv6 peer is its IPv4 address; IPv6 is written in its short form', () => {
    expect(clientOf('::ffff:1.2.3.4', null)).toBe('1.2.3.4')
    expect(clientOf('2001:DB8:0:0:0:0:0:0001', null)).toBe('2001:db8::1')
  })
})

describe('behind trusted proxies', () => {
  const clientOf = createClientAddress(parseCidrList('127.0.0.1/32, 10.0.0.0/8, fd00::/8'))
  it('from an untrusted peer X-Forwarded-For is ignored', () => {
    expect(clientOf('198.51.100.1', '10.0.0.1, 6.6.6.6')).toBe('198.51.100.1')
  })
  it('from a trusted peer: read from the right, skipping trusted hops; the first untrusted one is the client', () => {
    expect(clientOf('127.0.0.1', '198.51.100.7')).toBe('198.51.100.7')
    expect(clientOf('127.0.0.1', '6.6.6.6, 198.51.100.7, 10.1.2.3')).toBe('198.51.100.7')
    expect(clientOf('::ffff:127.0.0.1', '6.6.6.6,198.51.100.7 ,  fd00::1')).toBe('198.51.100.7')
  })
  it('every hop trusted: the leftmost', () => {
    expect(clientOf('127.0.0.1', '10.0.0.1, 10.0.0.2')).toBe('10.0.0.1')
  })
  it('no X-Forwarded-For, or an empty one: the peer', () => {
    expect(clientOf('127.0.0.1', undefined)).toBe('127.0.0.1')
    expect(clientOf('127.0.0.1', ' , ')).toBe('127.0.0.1')
  })
  it('hops are normalised; ports and brackets as proxies write them are accepted', () => {
    expect(clientOf('127.0.0.1', '::ffff:198.51.100.9')).toBe('198.51.100.9')
    expect(clientOf('127.0.0.1', '198.51.100.9:4711')).toBe('198.51.100.9')
    expect(clientOf('127.0.0.1', '[2001:db8::7]:443')).toBe('2001:db8::7')
    expect(clientOf('127.0.0.1', '[2001:db8::8]')).toBe('2001:db8::8')
  })
  it('a hop that is not an address ends the walk at the nearest hop that could be checked', () => {
    expect(clientOf('127.0.0.1', 'unknown')).toBe('127.0.0.1')
    expect(clientOf('127.0.0.1', '198.51.100.7, garbage, 10.0.0.3')).toBe('10.0.0.3')
    // Lenient IPv4 spellings (127.1, 0x7f.0.0.1) are not addresses here.
    expect(clientOf('127.0.0.1', '127.1')).toBe('127.0.0.1')
    // Beyond the first untrusted hop nothing is read, garbage or not.
    expect(clientOf('127.0.0.1', 'garbage, 198.51.100.7')).toBe('198.51.100.7')
  })
})

describe('TRUSTED_PROXY_CIDRS', () => {
  it('is normalised; a bare address is a single host', () => {
    expect(parseCidrList(' 10.0.0.0/8 ,,192.168.1.1, 2001:DB8::/32, ::ffff:10.0.0.0/104')).toEqual([
      '10.0.0.0/8',
      '192.168.1.1/32',
      '2001:db8::/32',
      '10.0.0.0/8',
    ])
    expect(loadConfig({ SECRET_KEY: 'x' }).trustedProxyCidrs).toEqual([])
    expect(loadConfig({ SECRET_KEY: 'x', TRUSTED_PROXY_CIDRS: '127.0.0.1/32' }).trustedProxyCidrs).toEqual(['127.0.0.1/32'])
  })
  it.each(['10.0.0.0/33', 'not-an-ip', '10.0.0/8', '::1/129', '10.0.0.0/', '127.1/32'])('a bad entry (%s) stops the start, naming the variable', (bad) => {
    expect(() => loadConfig({ SECRET_KEY: 'x', TRUSTED_PROXY_CIDRS: `127.0.0.1/32, ${bad}` })).toThrow(ConfigError)
    expect(() => loadConfig({ SECRET_KEY: 'x', TRUSTED_PROXY_CIDRS: bad })).toThrow(/^TRUSTED_PROXY_CIDRS /)
  })
})

describe('normalising', () => {
  it('addresses, and CF-Connecting-IP on Workers', () => {
    expect(normaliseAddress('::FFFF:8.8.8.8')).toBe('8.8.8.8')
    expect(normaliseAddress('nope')).toBeNull()
    expect(cloudflareClientAddress('2001:0db8::0001')).toBe('2001:db8::1')
    expect(cloudflareClientAddress(null)).toBe('')
  })
})
