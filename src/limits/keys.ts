// Limiter keys for people and addresses: a SHA-256 of what they count, so no
// email or address is written into Redis. Both runtimes compute the same key.
import { LIMIT_KEY_PREFIX } from './interface'

const encoder = new TextEncoder()

/** `zenzefi:rl:<policy>:<128-bit hex digest of the parts>`. */
export async function subjectKey(policy: string, ...parts: string[]): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(parts.join('\n'))))
  let hex = ''
  for (let i = 0; i < 16; i++) hex += digest[i]!.toString(16).padStart(2, '0')
  return `${LIMIT_KEY_PREFIX}${policy}:${hex}`
}
