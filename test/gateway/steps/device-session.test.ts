// Which device a request is from, decided without hashing or parsing on the hot path.
import { describe, expect, it } from 'vitest'
import { DEVICE_COOKIE, deviceCookie, deviceOf, newDeviceCookieValue, wantsDeviceCookie } from '../../../src/gateway/device'
import { deviceSession } from '../../../src/gateway/steps/device-session'
import { proxyRequest } from './request'

const cookie = newDeviceCookieValue()

describe('deviceOf', () => {
  it('X-Device-ID first, then our cookie, then address and browser', () => {
    expect(deviceOf(proxyRequest({ headers: { 'x-device-id': ' laptop ', cookie: `${DEVICE_COOKIE}=${cookie}` } }))).toEqual({
      source: 'header',
      raw: 'laptop',
    })
    expect(deviceOf(proxyRequest({ headers: { cookie: `a=b; ${DEVICE_COOKIE}=${cookie}` } }))).toEqual({ source: 'cookie', raw: cookie })
    expect(deviceOf(proxyRequest({ clientIp: '10.0.0.7', headers: { 'user-agent': 'UA/1' } }))).toEqual({ source: 'address', raw: '10.0.0.7\nUA/1' })
  })

  it('an empty X-Device-ID or a cookie that is not ours counts as none', () => {
    expect(deviceOf(proxyRequest({ headers: { 'x-device-id': '  ', cookie: `${DEVICE_COOKIE}=short` } })).source).toBe('address')
    expect(wantsDeviceCookie(proxyRequest({ headers: { cookie: `${DEVICE_COOKIE}=short` } }))).toBe(true)
    expect(wantsDeviceCookie(proxyRequest({ headers: { cookie: `${DEVICE_COOKIE}=${cookie}` } }))).toBe(false)
    expect(wantsDeviceCookie(proxyRequest({ headers: { 'x-device-id': 'd' } }))).toBe(false)
  })

  it('an over-long X-Device-ID is cut, so memory stays bounded', () => {
    expect(deviceOf(proxyRequest({ headers: { 'x-device-id': 'x'.repeat(5000) } })).raw).toHaveLength(256)
  })

  it('the cookie: random, HttpOnly, only for the proxy path', () => {
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(newDeviceCookieValue()).not.toBe(cookie)
    expect(deviceCookie(cookie, { cookieSecure: true, cookieSameSite: 'lax' })).toBe(
      `${DEVICE_COOKIE}=${cookie}; HttpOnly; Path=/api/v1/proxy; Max-Age=34560000; SameSite=lax; Secure`,
    )
  })
})

describe('the device-session step', () => {
  it('with sessions off (PROXY_SESSIONS=off) lets every request on', () => {
    expect(deviceSession(null).run({} as never)).toBeUndefined()
  })
})
