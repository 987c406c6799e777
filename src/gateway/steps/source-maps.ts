// Zenzefi's source maps stay private, however the path is spelled.
import { detailReply, SOURCE_MAPS_REFUSED } from '../answers'
import type { Step } from '../pipeline'
import { isSourceMapPath } from '../source-map'

export function sourceMaps(): Step {
  return {
    name: 'source-maps',
    run: ({ req }) => (isSourceMapPath(req.path) ? detailReply(404, SOURCE_MAPS_REFUSED) : undefined),
  }
}
