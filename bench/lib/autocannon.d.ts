// The part of autocannon's API the benches use (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface Options {
    url: string
    connections?: number
    duration?: number
    pipelining?: number
    timeout?: number
    headers?: Record<string, string>
    /** requests per second over all connections, paced per connection per second */
    overallRate?: number
    /** stop after this many requests (then `duration` is ignored) */
    amount?: number
    tlsOptions?: Record<string, unknown>
  }

  export interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    resets: number
    requests: { total: number; average: number; sent: number }
    throughput: { total: number; average: number }
  }

  export interface Instance extends EventEmitter {
    stop(): void
  }

  function autocannon(opts: Options, cb: (err: Error | null, result: Result) => void): Instance
  export default autocannon
}
