import { readFileSync } from 'node:fs'
import tls from 'node:tls'
import type { Config } from '../../config'

export type UpstreamTlsConfig = Pick<Config, 'zenzefiCaFile' | 'zenzefiTlsInsecure'>

/**
 * How every connection to Zenzefi checks its certificate: against ZENZEFI_CA_FILE when given
 * (one context built once: a `ca` option would be re-read into every connection's name and
 * context), the system store otherwise, and not at all only with ZENZEFI_TLS_INSECURE.
 */
export function upstreamTls(config: UpstreamTlsConfig): { secureContext?: tls.SecureContext; rejectUnauthorized: boolean } {
  const secureContext = config.zenzefiCaFile ? tls.createSecureContext({ ca: readFileSync(config.zenzefiCaFile) }) : undefined
  return { secureContext, rejectUnauthorized: !config.zenzefiTlsInsecure }
}
