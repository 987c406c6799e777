// No service worker through the proxy: one registered under the proxy prefix would see every
// later request of every page under it, so its script is never served.
// Browsers mark that fetch (and each update check) with `Service-Worker: script`.
import { detailReply, SERVICE_WORKERS_REFUSED } from '../answers'
import type { Step } from '../pipeline'

export function serviceWorkers(): Step {
  return {
    name: 'service-worker',
    run: ({ req }) => (req.header('service-worker') != null ? detailReply(403, SERVICE_WORKERS_REFUSED) : undefined),
  }
}
