// Which device a proxied request comes from: the X-Device-ID it sends, else our
// `zenzefi_device` cookie, else its address and browser. The raw identity stays in
// memory only; the database keeps a SHA-256 of it (device_key).

import type { Config } from '../config'
import type { ProxyRequest } from './pipeline'
import { readCookie } from './token-source'

export const DEVICE_HEADER = 'x-device-id'
export const DEVICE_COOKIE = 'zenzefi_device'
const DEVICE_COOKIE_PATH = '/api/v1/proxy'
const DEVICE_COOKIE_MAX_AGE = 400 * 86_400
/** Ours: 32 URL-safe characters. Anything else in the cookie is ignored, as if it were absent. */
const COOKIE_VALUE = /^[A-Za-z0-9_-]{32}$/
/** A longer X-Device-ID is cut here: the raw value is a map key in memory. */
const MAX_DEVICE_ID = 256

export type DeviceSource = 'header' | 'cookie' | 'address'

export interface Device {
  source: DeviceSource
  /** The identity as sent (header, cookie) or address + browser; never stored. */
  raw: string
}

/** The request's device; cheap enough for every request (no hashing, no parsing unless our cookie is there). */
export function deviceOf(req: Pick<ProxyRequest, 'header' | 'clientIp'>): Device {
  const header = req.header(DEVICE_HEADER)
  if (header) {
    const id = header.trim()
    if (id) return { source: 'header', raw: id.length > MAX_DEVICE_ID ? id.slice(0, MAX_DEVICE_ID) : id }
  }
  const cookies = req.header('cookie')
  if (cookies?.includes(DEVICE_COOKIE)) {
    const v = readCookie(cookies, DEVICE_COOKIE)
    if (v && COOKIE_VALUE.test(v)) return { source: 'cookie', raw: v }
  }
  return { source: 'address', raw: addressIdentity(req) }
}

export const addressIdentity = (req: Pick<ProxyRequest, 'header' | 'clientIp'>): string => `${req.clientIp}\n${req.header('user-agent') ?? ''}`

/** What device_key holds: SHA-256 of the source and the raw identity. */
export const deviceKeyInput = (d: Device): string => `${d.source}:${d.raw}`

/** True when the client has neither an X-Device-ID nor our cookie: its answer gets one. */
export function wantsDeviceCookie(req: Pick<ProxyRequest, 'header'>): boolean {
  if (req.header(DEVICE_HEADER)?.trim()) return false
  const cookies = req.header('cookie')
  if (!cookies?.includes(DEVICE_COOKIE)) return true
  const v = readCookie(cookies, DEVICE_COOKIE)
  return !(v && COOKIE_VALUE.test(v))
}

export function newDeviceCookieValue(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24))
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_')
}

export function deviceCookie(value: string, config: Pick<Config, 'cookieSecure' | 'cookieSameSite'>): string {
  return (
    `${DEVICE_COOKIE}=${value}; HttpOnly; Path=${DEVICE_COOKIE_PATH}; Max-Age=${DEVICE_COOKIE_MAX_AGE}; SameSite=${config.cookieSameSite}` +
    (config.cookieSecure ? '; Secure' : '')
  )
}
