import http from 'node:http'
import https from 'node:https'
import type { Config } from '../../config'
import { upstreamAgent } from './proxy'

/**
 * HEAD to the Zenzefi host with the same TLS rules the proxy uses: the CA file
 * when given, the system store otherwise, no verification only when asked.
 * Any HTTP answer means the host is up.
 */
export function createUpstreamProbe(config: Pick<Config, 'zenzefiTargetUrl' | 'zenzefiCaFile' | 'zenzefiTlsInsecure'>) {
  const target = new URL(config.zenzefiTargetUrl)
  // The proxy's own TLS rules (CA file, insecure only when asked), in one place.
  const agent = upstreamAgent(config)
  return () =>
    new Promise<void>((resolve, reject) => {
      const options = { method: 'HEAD', timeout: 5_000, agent }
      const req = (target.protocol === 'https:' ? https : http).request(target, options, (res) => {
        res.resume()
        resolve()
      })
      req.on('timeout', () => req.destroy(new Error('timed out')))
      req.on('error', reject)
      req.end()
    })
}
