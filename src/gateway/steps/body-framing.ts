// A body is forwarded framed exactly as the client framed it, or refused. A GET or
// HEAD with a body is refused: written upstream unframed, such a body would be read
// by Zenzefi as a second request of the sender's making (request smuggling).
import { BAD_FRAMING, BODY_NOT_ALLOWED, detailReply } from '../answers'
import { requestBodyFraming } from '../headers'
import type { Step } from '../pipeline'

export function bodyFraming(): Step {
  return {
    name: 'body-framing',
    on: 'http',
    run(state) {
      const framing = requestBodyFraming(state.req.header)
      state.framing = framing
      if (framing.kind === 'invalid') return detailReply(400, BAD_FRAMING)
      if (framing.kind !== 'none' && (state.req.method === 'GET' || state.req.method === 'HEAD')) return detailReply(400, BODY_NOT_ALLOWED)
    },
  }
}
