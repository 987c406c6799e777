// html-rewriter-wasm behind the chunk-rewriter interface: Node's HTML engine. Kept out of
// shared code because the package loads its .wasm from disk, which a Workers bundle can't.
import { createRequire } from 'node:module'
import type { ElementHandlers as WasmElementHandlers } from 'html-rewriter-wasm'
import { type ChunkRewriter, rewriterFor as rewriterWith } from '../../rewrite/body'
import { type HtmlElementHandlers, htmlHandlers } from '../../rewrite/html'
import type { UrlMapper } from '../../rewrite/url-mapper'

const EMPTY = new Uint8Array(0)

type Engine = typeof import('html-rewriter-wasm')
let engine: Engine | null = null

/**
 * The package compiles and instantiates its ~1 MB of WebAssembly as soon as it is loaded (~8 MB
 * resident, ~8 ms): loaded on the first HTML body to rewrite instead of at start, so a gateway that
 * serves no HTML never pays for it.
 */
function wasmEngine(): Engine {
  engine ??= createRequire(import.meta.url)('html-rewriter-wasm') as Engine
  return engine
}

type Freeable = { free(): void }

/**
 * html-rewriter-wasm hands each handler call a fresh wasm-bindgen wrapper that JS owns and never
 * frees: ~80 bytes of wasm memory per call that never come back (measured: +2.5 MB of wasm memory
 * per MB of link-dense HTML). The wrapper is dead once the handler returns, so free it then; the
 * element's changes live in lol-html, not in the wrapper.
 */
function freeingWrappers(h: HtmlElementHandlers): WasmElementHandlers {
  const out: WasmElementHandlers = {}
  const { element, text } = h
  if (element) {
    out.element = (el) => {
      try {
        element(el)
      } finally {
        ;(el as unknown as Freeable).free()
      }
    }
  }
  if (text) {
    out.text = (chunk) => {
      try {
        text(chunk)
      } finally {
        ;(chunk as unknown as Freeable).free()
      }
    }
  }
  return out
}

/** HTMLRewriter from html-rewriter-wasm (Node). One instance per response body. */
export function createWasmHtmlRewriter(mapper: UrlMapper): ChunkRewriter {
  let parts: Uint8Array[] = []
  let size = 0
  const rewriter = new (wasmEngine().HTMLRewriter)((chunk) => {
    parts.push(chunk)
    size += chunk.byteLength
  })
  for (const [selector, handlers] of htmlHandlers(mapper)) rewriter.on(selector, freeingWrappers(handlers))

  let freed = false
  let busy = false
  let freeWanted = false
  const release = () => {
    if (freed) return
    freed = true
    rewriter.free() // freeing twice panics in wasm ("null pointer passed to rust")
  }
  // One Uint8Array per write: enqueueing every fragment costs twice the time downstream.
  const take = (): Uint8Array => {
    let out: Uint8Array
    if (parts.length === 0) out = EMPTY
    else if (parts.length === 1) out = parts[0]!
    else {
      out = new Uint8Array(size)
      let at = 0
      for (const p of parts) {
        out.set(p, at)
        at += p.byteLength
      }
    }
    parts = []
    size = 0
    return out
  }
  // free() during a pending write (client abort) would pull wasm memory from under it: defer.
  const guarded = async (run: () => Promise<void>) => {
    if (freed) throw new Error('HTML rewriter used after free()')
    busy = true
    try {
      await run()
    } finally {
      busy = false
      if (freeWanted) release()
    }
  }
  return {
    async write(chunk) {
      await guarded(() => rewriter.write(chunk))
      return take()
    },
    async end() {
      try {
        await guarded(() => rewriter.end())
      } finally {
        release()
      }
      return take()
    },
    free() {
      if (busy) freeWanted = true
      else release()
    },
  }
}

/** rewriterFor with html-rewriter-wasm as the HTML engine. */
export const rewriterFor = (contentType: string | null, mapper: UrlMapper): ChunkRewriter | null => rewriterWith(contentType, mapper, createWasmHtmlRewriter)
