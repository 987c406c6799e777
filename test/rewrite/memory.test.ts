// Large bodies stream through the rewriters in constant memory: 50 MB of CSS and of JS (and
// 4 MB of HTML through wasm) cut at arbitrary points, with heap and RSS sampled after a GC.
import v8 from 'node:v8'
import vm from 'node:vm'
import * as htmlRewriterWasm from 'html-rewriter-wasm'
import { describe, expect, it } from 'vitest'
import { rewriterFor } from '../../src/runtime/node/html-rewriter-wasm'
import { direct, PREFIX, PUBLIC, UPSTREAM } from './support'

const MB = 1024 * 1024
const LIMIT = 32 * MB

// A real collection before each sample, so the figures are what is retained, not garbage.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

/**
 * Streams `rule` repeated up to `total` bytes, in chunks of `chunk` bytes that do not line up
 * with the rule (so matches are split), and returns output size and peak memory growth.
 */
async function stream(contentType: string, rule: string, approxTotal: number, chunk: number) {
  const ruleBytes = new TextEncoder().encode(rule)
  const reps = Math.ceil((2 * chunk) / ruleBytes.byteLength) + 1
  const period = ruleBytes.byteLength
  const total = Math.floor(approxTotal / period) * period
  const ring = new Uint8Array(period * reps)
  for (let i = 0; i < reps; i++) ring.set(ruleBytes, i * period)
  const r = rewriterFor(contentType, direct)!
  // The baseline is taken after the first tenth of the body, once buffers and JIT code exist: what must stay
  // flat is growth with the body's length. RSS is split in two: V8 grows its young generation
  // (heapTotal) by up to ~30 MB under any allocation-heavy loop and then stops, whatever the body
  // size, so the native side is judged as rss - heapTotal (wasm memory, buffers, malloc).
  let base: NodeJS.MemoryUsage | null = null
  let wasmBase = 0
  let heap = 0
  let native = 0
  let rss = 0
  let out = 0
  let fed = 0
  let sampled = 0
  while (fed < total) {
    const off = fed % period
    const n = Math.min(chunk, total - fed)
    out += (await r.write(ring.subarray(off, off + n))).byteLength
    fed += n
    if (fed - sampled >= total / 10) {
      sampled = fed
      gc()
      const m = process.memoryUsage()
      if (!base) {
        base = m
        wasmBase = wasmMemory()
      }
      heap = Math.max(heap, m.heapUsed - base.heapUsed)
      native = Math.max(native, m.rss - m.heapTotal - (base.rss - base.heapTotal))
      rss = Math.max(rss, m.rss - base.rss)
    }
  }
  out += (await r.end()).byteLength
  r.free()
  return { total, out, heap, native, rss, wasm: wasmMemory() - wasmBase, rules: total / period }
}

// The module's wasm instance (exported, untyped): its memory only ever grows, so growth = a leak.
const wasmMemory = () => (htmlRewriterWasm as unknown as { __wasm: { memory: WebAssembly.Memory } }).__wasm.memory.buffer.byteLength

const report = (label: string, s: { heap: number; native: number; rss: number }) =>
  console.log(
    `[memory] ${label}: heap used +${(s.heap / MB).toFixed(1)} MB, native (rss - heapTotal) +${(s.native / MB).toFixed(1)} MB, rss +${(s.rss / MB).toFixed(1)} MB`,
  )

describe('bounded memory', () => {
  it('a 50 MB stylesheet', async () => {
    const rule = `.r{background:url(/img/a.png)} .s{src:url('${UPSTREAM}/f.woff')} .t{color:#123456;margin:0 auto}\n`
    const s = await stream('text/css', rule, 50 * MB, 16 * 1024 + 7)
    report('css 50 MB', s)
    // Every rule rewritten exactly once, split or not.
    expect(s.out).toBe(s.total + s.rules * (PREFIX.length + (PUBLIC + PREFIX).length - UPSTREAM.length))
    expect(s.heap).toBeLessThan(LIMIT)
    expect(s.native).toBeLessThan(LIMIT)
  })

  it('a 50 MB script', async () => {
    const rule = `var s=new SockJS("/ws");var u="${UPSTREAM}/api/x";function f(a,b){return a+b*2}\n`
    const s = await stream('application/javascript', rule, 50 * MB, 64 * 1024 - 3)
    report('js 50 MB', s)
    expect(s.out).toBe(s.total + s.rules * (PREFIX.length + (PUBLIC + PREFIX).length - UPSTREAM.length))
    expect(s.heap).toBeLessThan(LIMIT)
    expect(s.native).toBeLessThan(LIMIT)
  })

  it('a 4 MB HTML page through html-rewriter-wasm', async () => {
    const row = `<tr><td><a href="/c/1">Zertifikat 1 – gültig</a></td><td style="background:url(/i.png)">x</td></tr>\n`
    const s = await stream('text/html', row, 4 * MB, 16 * 1024 + 1)
    report('html 4 MB', s)
    expect(s.out).toBe(s.total + s.rules * 2 * PREFIX.length)
    // Each handler call used to leak its wasm-bindgen wrapper (~80 bytes): megabytes here.
    expect(s.wasm).toBeLessThan(MB)
    expect(s.heap).toBeLessThan(LIMIT)
    expect(s.native).toBeLessThan(LIMIT)
  })
})
