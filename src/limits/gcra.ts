// GCRA arithmetic, once in TypeScript (the in-process limiter) and once in Lua
// (Redis and Upstash run the same script); both must give the same answers.
// Time is counted in whole microseconds, so every sum is an exact integer in a
// double (now ≈ 1.8e15 µs < 2^53) and no rounding can let one request too many through.

import type { Charge, Decision, KeyResult, Mode } from './interface'

const US_PER_MS = 1000

/** A rule's interval in whole microseconds (≥ 1). */
export const intervalUs = (intervalMs: number): number => Math.max(1, Math.round(intervalMs * US_PER_MS))

const MODE_CODE: Record<Mode, number> = { check: 0, take: 1, force: 2 }

/** One key's step: what it would be after `cost` more events at `nowUs`, given its stored TAT (µs) or null. */
export function gcraStep(storedTat: number | null, nowUs: number, interval: number, burst: number, cost: number) {
  const tat = storedTat === null || storedTat < nowUs ? nowUs : storedTat
  let next = tat + cost * interval
  if (next < nowUs) next = nowUs
  return { tat, next, allowed: next - nowUs <= burst * interval }
}

/** The answer for one key once the call decided whether to record (`stored` is its TAT afterwards). */
export function keyResult(stored: number, next: number, allowed: boolean, nowUs: number, interval: number, burst: number): KeyResult {
  const remaining = Math.max(0, Math.floor((burst * interval - (stored - nowUs)) / interval))
  return {
    allowed,
    remaining,
    retryAfterMs: allowed ? 0 : Math.ceil((next - burst * interval - nowUs) / US_PER_MS),
    resetMs: Math.ceil((stored - nowUs) / US_PER_MS),
  }
}

/**
 * The same arithmetic for Redis, over every key at once and atomically (a script runs alone).
 * KEYS: the keys. ARGV[1]: now (µs); ARGV[2]: mode (0 check, 1 take, 2 force); then per key: interval (µs), burst, cost.
 * A TAT is stored as its integer µs with a PX expiry at the moment the bucket is empty again.
 * Reply: {all allowed (1/0), index of the first refused charge or -1, then per key: allowed (1/0), remaining, retry ms, reset ms}.
 */
export const GCRA_SCRIPT = `local now = tonumber(ARGV[1])
local mode = tonumber(ARGV[2])
local n = #KEYS
local tats, nexts, oks = {}, {}, {}
local all, refused = 1, -1
for i = 1, n do
  local interval, burst, cost = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local nxt = tat + cost * interval
  if nxt < now then nxt = now end
  tats[i], nexts[i], oks[i] = tat, nxt, (nxt - now <= burst * interval)
  if not oks[i] and refused < 0 then all, refused = 0, i - 1 end
end
local write = mode == 2 or (mode == 1 and all == 1)
local reply = {all, refused}
for i = 1, n do
  local interval, burst, cost = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local stored = tats[i]
  if write and cost ~= 0 then
    stored = nexts[i]
    local ttl = math.ceil((stored - now) / 1000)
    if ttl > 0 then redis.call('SET', KEYS[i], string.format('%.0f', stored), 'PX', ttl) else redis.call('DEL', KEYS[i]) end
  end
  local remaining = math.floor((burst * interval - (stored - now)) / interval)
  if remaining < 0 then remaining = 0 end
  local retry = 0
  if not oks[i] then retry = math.ceil((nexts[i] - burst * interval - now) / 1000) end
  reply[#reply + 1] = oks[i] and 1 or 0
  reply[#reply + 1] = remaining
  reply[#reply + 1] = retry
  reply[#reply + 1] = math.ceil((stored - now) / 1000)
end
return reply
`

/** KEYS and ARGV for GCRA_SCRIPT. */
export function scriptArgs(charges: Charge[], mode: Mode, now: number): { keys: string[]; args: string[] } {
  const args = [String(Math.round(now) * US_PER_MS), String(MODE_CODE[mode])]
  for (const c of charges) args.push(String(intervalUs(c.rule.intervalMs)), String(c.rule.burst), String(c.cost ?? 1))
  return { keys: charges.map((c) => c.key), args }
}

/** GCRA_SCRIPT's reply as a Decision (Redis and Upstash hand back integers, possibly as strings). */
export function decodeScriptReply(reply: unknown, count: number): Decision {
  if (!Array.isArray(reply) || reply.length !== 2 + 4 * count) throw new Error('unexpected reply from the rate limit script')
  const n = reply.map(Number)
  const results: KeyResult[] = []
  for (let i = 0; i < count; i++) {
    const at = 2 + 4 * i
    results.push({ allowed: n[at] === 1, remaining: n[at + 1]!, retryAfterMs: n[at + 2]!, resetMs: n[at + 3]! })
  }
  return { allowed: n[0] === 1, refused: n[1]!, results }
}

let sha: string | null = null
/** The script's SHA-1, for EVALSHA (WebCrypto; computed once, kept as a plain string). */
export async function scriptSha(): Promise<string> {
  if (sha) return sha
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(GCRA_SCRIPT))
  sha = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
  return sha
}

/** A Redis error that means the script cache does not hold the script (a restart, SCRIPT FLUSH, a new replica). */
export const isNoScript = (err: unknown): boolean => /NOSCRIPT/i.test(String((err as Error)?.message ?? err))
