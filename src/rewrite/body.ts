// Which body rewriter a response gets, and the Web-stream wrapper around it.

import type { ChunkRewriter } from './chunk-rewriter'
import { createTextRewriter, type TextKind } from './text'
import type { UrlMapper } from './url-mapper'

export type { ChunkRewriter }

type BodyKind = 'html' | TextKind

const JS_TYPES = new Set(['application/javascript', 'text/javascript', 'application/x-javascript', 'application/ecmascript'])
// The patterns are ASCII and the text decoder is UTF-8; any other charset passes through untouched.
const REWRITABLE_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii'])

/** The body kind a Content-Type gets, or null for pass-through. Exported for the forwarding path and tests. */
export function bodyKind(contentType: string | null): BodyKind | null {
  if (!contentType) return null
  const [essence, ...params] = contentType.split(';')
  const mime = essence!.trim().toLowerCase()
  let kind: BodyKind | null = null
  if (mime === 'text/html' || mime === 'application/xhtml+xml') kind = 'html'
  else if (mime === 'text/css') kind = 'css'
  else if (JS_TYPES.has(mime)) kind = 'js'
  else if (mime === 'application/json' || mime.endsWith('+json')) kind = 'json'
  if (kind === null) return null
  for (const param of params) {
    const eq = param.indexOf('=')
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
    if (!REWRITABLE_CHARSETS.has(charset)) return null
  }
  return kind
}

/**
 * Desktop mode with the local proxy on the upstream's own origin (the default: both
 * https://127.0.0.1:61000) maps every URL to itself, so there is nothing to rewrite.
 */
export function isIdentity(mapper: UrlMapper): boolean {
  return mapper.desktop && mapper.upstreamOrigins.some((o) => o.toLowerCase() === mapper.publicBase.toLowerCase())
}

/** The runtime's HTML engine (html-rewriter-wasm on Node); HTML passes through without one. */
export type HtmlEngine = (mapper: UrlMapper) => ChunkRewriter

/** null = pass through byte for byte (images, downloads, anything not text we rewrite). */
export function rewriterFor(contentType: string | null, mapper: UrlMapper, html: HtmlEngine | null): ChunkRewriter | null {
  const kind = bodyKind(contentType)
  if (kind === null || isIdentity(mapper)) return null
  if (kind === 'html') return html ? html(mapper) : null
  return createTextRewriter(kind, mapper)
}

/** Web TransformStream wrapper (Workers and tests): calls free() in flush and cancel. */
export function toTransformStream(r: ChunkRewriter): TransformStream<Uint8Array, Uint8Array> {
  // `cancel` (client abort / upstream error) is in the Streams spec and Node 20, not yet in TS's lib.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
    async transform(chunk, controller) {
      try {
        const out = await r.write(chunk)
        if (out.byteLength > 0) controller.enqueue(out)
      } catch (err) {
        r.free()
        throw err
      }
    },
    async flush(controller) {
      try {
        const out = await r.end()
        if (out.byteLength > 0) controller.enqueue(out)
      } finally {
        r.free()
      }
    },
    cancel() {
      r.free()
    },
  }
  return new TransformStream(transformer)
}
