// Which URL mapper a request gets: direct mode (BACKEND_URL + prefix), or desktop
// mode for a loopback X-Local-Url sent by the desktop client.

import type { Config } from '../config'
import { createUrlMapper, parseLocalUrl, type UrlMapper } from '../rewrite/url-mapper'

export function createMapperSelector(config: Pick<Config, 'zenzefiTargetUrl' | 'backendUrl'>) {
  const target = config.zenzefiTargetUrl
  const direct = createUrlMapper({ upstream: target, backendUrl: config.backendUrl, localUrl: null })
  // Desktop clients send one of a handful of loopback origins: a small memo avoids rebuilding mappers per request.
  const desktop = new Map<string, UrlMapper>()
  return (localUrlHeader: string | null | undefined): UrlMapper => {
    if (!localUrlHeader) return direct
    const local = parseLocalUrl(localUrlHeader)
    if (!local) return direct
    let m = desktop.get(local)
    if (!m) {
      if (desktop.size > 32) desktop.clear()
      m = createUrlMapper({ upstream: target, backendUrl: config.backendUrl, localUrl: local })
      desktop.set(local, m)
    }
    return m
  }
}

export type MapperSelector = ReturnType<typeof createMapperSelector>
