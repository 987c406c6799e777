// The device's proxy session for this token (src/gateway/device-sessions.ts): found in
// memory for a known device, otherwise found or started in the database, where a token
// already in use on DEVICE_LIMIT other devices is refused with 409 and Retry-After.
// Runs for WebSocket upgrades too, so a refused one never gets its 101.
import { andThen } from '../../services/maybe-async'
import { DEVICE_IN_USE, detailReply, INVALID_TOKEN, type Reply } from '../answers'
import { deviceOf } from '../device'
import type { Admission, DeviceSessions } from '../device-sessions'
import type { ProxyState, Step } from '../pipeline'

export function deviceSession(devices: DeviceSessions | null): Step {
  return {
    name: 'device-session',
    run(state) {
      if (!devices) return
      // Known devices are answered synchronously: no await on the hot path.
      return andThen(devices.admit(deviceOf(state.req), state.req, state.auth!), (a) => settle(state, a))
    },
  }
}

function settle(state: ProxyState, a: Admission): Reply | undefined {
  if ('session' in a) {
    state.session = a.session
    state.setCookie = a.setCookie
    return undefined
  }
  if ('gone' in a) return detailReply(401, INVALID_TOKEN)
  return detailReply(409, DEVICE_IN_USE, ['Retry-After', String(a.refused)])
}
