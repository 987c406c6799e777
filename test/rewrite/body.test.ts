// Which content types get rewritten, the TransformStream wrapper, and resource release.
import { describe, expect, it } from 'vitest'
import { bodyKind, type ChunkRewriter, toTransformStream } from '../../src/rewrite/body'
import { createWasmHtmlRewriter, rewriterFor } from '../../src/runtime/node/html-rewriter-wasm'
import { desktop, direct, PREFIX } from './support'

describe('rewriterFor', () => {
  it('picks the rewriter by media type', () => {
    expect(bodyKind('text/html')).toBe('html')
    expect(bodyKind('Text/HTML; charset=UTF-8')).toBe('html')
    expect(bodyKind('application/xhtml+xml')).toBe('html')
    expect(bodyKind('text/css;charset=utf-8')).toBe('css')
    for (const t of ['application/javascript', 'text/javascript', 'application/x-javascript', 'application/ecmascript']) expect(bodyKind(t)).toBe('js')
    expect(bodyKind('application/json')).toBe('json')
    expect(bodyKind('application/problem+json; charset="utf-8"')).toBe('json')
    expect(bodyKind('application/vnd.api+json')).toBe('json')
  })

  it('passes through everything else, and a missing content type', () => {
    for (const t of [
      null,
      '',
      'image/png',
      'image/svg+xml',
      'application/octet-stream',
      'application/pdf',
      'text/plain',
      'font/woff2',
      'application/zip',
      'text/event-stream',
    ]) {
      expect(rewriterFor(t, direct), String(t)).toBeNull()
    }
  })

  it('passes through text in a charset other than UTF-8 / ASCII', () => {
    expect(rewriterFor('text/html; charset=ISO-8859-1', direct)).toBeNull()
    expect(rewriterFor('text/css; charset=windows-1252', direct)).toBeNull()
    expect(rewriterFor('application/json; charset=utf-16', direct)).toBeNull()
    expect(bodyKind('text/css; charset=us-ascii')).toBe('css')
    expect(bodyKind('text/html; charset=utf8')).toBe('html')
  })

  it('copes with empty chunks and an empty body', async () => {
    for (const t of ['text/html', 'text/css', 'application/json']) {
      const r = rewriterFor(t, direct)!
      expect((await r.write(new Uint8Array(0))).byteLength).toBe(0)
      expect((await r.end()).byteLength).toBe(0)
      r.free()
    }
  })

  it('rewrites in desktop mode when the local proxy is on another origin than the upstream', () => {
    const r = rewriterFor('text/css', desktop)
    expect(r).not.toBeNull()
    r!.free()
  })
})

/** A ChunkRewriter that records what happens to it. */
function probe(opts: { failOnWrite?: boolean } = {}) {
  const events: string[] = []
  const r: ChunkRewriter = {
    async write(chunk) {
      events.push(`write ${chunk.byteLength}`)
      if (opts.failOnWrite) throw new Error('boom')
      return chunk
    },
    async end() {
      events.push('end')
      return new TextEncoder().encode('!')
    },
    free() {
      events.push('free')
    },
  }
  return { r, events }
}

const streamOf = (...parts: string[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(new TextEncoder().encode(p))
      c.close()
    },
  })

describe('toTransformStream', () => {
  it('streams the rewritten body and frees at the end', async () => {
    const out = await new Response(streamOf('<a href="/x">', 'x</a>').pipeThrough(toTransformStream(rewriterFor('text/html', direct)!))).text()
    expect(out).toBe(`<a href="${PREFIX}/x">x</a>`)
    const { r, events } = probe()
    expect(await new Response(streamOf('ab', 'c').pipeThrough(toTransformStream(r))).text()).toBe('abc!')
    expect(events).toEqual(['write 2', 'write 1', 'end', 'free'])
  })

  it('frees when the reader cancels (client abort)', async () => {
    const { r, events } = probe()
    const reader = streamOf('a', 'b').pipeThrough(toTransformStream(r)).getReader()
    await reader.read()
    await reader.cancel('client went away')
    expect(events).toContain('free')
    expect(events).not.toContain('end')
  })

  it('frees when the upstream body errors', async () => {
    const { r, events } = probe()
    const upstream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(1))
        c.error(new Error('upstream reset'))
      },
    })
    await expect(new Response(upstream.pipeThrough(toTransformStream(r))).text()).rejects.toThrow()
    expect(events).toContain('free')
  })

  it('frees when rewriting a chunk fails', async () => {
    const { r, events } = probe({ failOnWrite: true })
    await expect(new Response(streamOf('a').pipeThrough(toTransformStream(r))).text()).rejects.toThrow('boom')
    expect(events).toEqual(['write 1', 'free'])
  })
})

describe('the html-rewriter-wasm adapter', () => {
  it('free() is idempotent, before and after end()', async () => {
    const a = createWasmHtmlRewriter(direct)
    a.free()
    a.free()
    const b = createWasmHtmlRewriter(direct)
    await b.write(new TextEncoder().encode('<p>x</p>'))
    await b.end()
    b.free()
    b.free()
  })

  it('refuses writes after free() instead of touching freed wasm memory', async () => {
    const r = createWasmHtmlRewriter(direct)
    r.free()
    await expect(r.write(new TextEncoder().encode('<p>'))).rejects.toThrow(/after free/)
  })

  it('defers free() requested during a pending write until the write is done', async () => {
    const r = createWasmHtmlRewriter(direct)
    const pending = r.write(new TextEncoder().encode('<a href="/x">x</a>'))
    r.free()
    expect(new TextDecoder().decode(await pending)).toBe(`<a href="${PREFIX}/x">x</a>`)
    await expect(r.write(new Uint8Array(1))).rejects.toThrow(/after free/)
  })

  it('returns one Uint8Array per write, not the many fragments lol-html emits', async () => {
    const r = createWasmHtmlRewriter(direct)
    const out = await r.write(new TextEncoder().encode('<p><a href="/a">a</a><a href="/b">b</a></p>'.repeat(50)))
    expect(out).toBeInstanceOf(Uint8Array)
    expect(new TextDecoder().decode(out)).toContain(`${PREFIX}/b`)
    r.free()
  })
})
