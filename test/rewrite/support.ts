// Shared fixtures for the body-rewriting tests: mappers for both modes and a chunked driver.

import type { ChunkRewriter } from '../../src/rewrite/body'
import { createUrlMapper } from '../../src/rewrite/url-mapper'
import { rewriterFor } from '../../src/runtime/node/html-rewriter-wasm'

export const UPSTREAM = 'https://zenzefi.local:61000'
export const PUBLIC = 'http://gw.example'
export const PREFIX = '/api/v1/proxy'
export const LOCAL = 'https://127.0.0.1:61000'

export const direct = createUrlMapper({ upstream: UPSTREAM, backendUrl: PUBLIC, localUrl: null })
export const desktop = createUrlMapper({ upstream: UPSTREAM, backendUrl: PUBLIC, localUrl: LOCAL })

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { ignoreBOM: true })

/** Feeds `input` in chunks of the given sizes (cycled; Infinity = whole) and returns the output bytes. */
export async function runBytes(r: ChunkRewriter, input: Uint8Array, sizes: number[] = [Infinity]): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  try {
    let at = 0
    for (let i = 0; at < input.byteLength; i++) {
      const n = Math.min(sizes[i % sizes.length]!, input.byteLength - at)
      parts.push(await r.write(input.subarray(at, at + n)))
      at += n
    }
    parts.push(await r.end())
  } finally {
    r.free()
  }
  return Buffer.concat(parts)
}

/** Rewrites `body` as a response of `contentType` would be; fails if it would pass through. */
export async function rewrite(contentType: string, body: string | Uint8Array, mapper = direct, sizes?: number[]): Promise<string> {
  const r = rewriterFor(contentType, mapper)
  if (!r) throw new Error(`${contentType} passes through`)
  const bytes = typeof body === 'string' ? encoder.encode(body) : body
  return decoder.decode(await runBytes(r, bytes, sizes))
}

export const html = (body: string, mapper = direct, sizes?: number[]) => rewrite('text/html; charset=utf-8', body, mapper, sizes)
export const css = (body: string, mapper = direct, sizes?: number[]) => rewrite('text/css', body, mapper, sizes)
export const js = (body: string, mapper = direct, sizes?: number[]) => rewrite('application/javascript', body, mapper, sizes)
export const json = (body: string, mapper = direct, sizes?: number[]) => rewrite('application/json', body, mapper, sizes)

/** The HTML without our injected shim script (to compare the rest of the document). */
export const withoutShim = (s: string) => s.replace(/<script data-zenzefi-shim>[\s\S]*?<\/script>/g, '')
