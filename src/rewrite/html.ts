// HTML rewriting: a platform-free list of (selector, handlers) that any HTMLRewriter can run
// (the Workers built-in, or html-rewriter-wasm on Node: src/runtime/html-rewriter-wasm.ts).

import { SHIM_ATTRIBUTE, shimScript } from './shim'
import { createTextCore, rewriteText, type TextCore, type TextKind } from './text'
import { mapRefresh, type UrlMapper } from './url-mapper'

// The subset of the HTMLRewriter API we use, typed structurally so both implementations fit.
export interface HtmlContentOptions {
  html?: boolean
}
export interface HtmlElement {
  readonly tagName: string
  getAttribute(name: string): string | null
  setAttribute(name: string, value: string): unknown
  removeAttribute(name: string): unknown
  before(content: string, options?: HtmlContentOptions): unknown
  prepend(content: string, options?: HtmlContentOptions): unknown
  remove(): unknown
}
export interface HtmlTextChunk {
  readonly text: string
  readonly lastInTextNode: boolean
  replace(content: string, options?: HtmlContentOptions): unknown
}
export interface HtmlElementHandlers {
  element?(element: HtmlElement): void
  text?(chunk: HtmlTextChunk): void
}
export type HtmlHandlerList = Array<[selector: string, handlers: HtmlElementHandlers]>

// Which elements carry a URL attribute. Every handler call crosses from wasm into JS (~1 µs, a
// setAttribute ~3 µs with html-rewriter-wasm), so selectors only match values that can change.
const URL_ATTRIBUTES: ReadonlyArray<[element: string, attribute: string]> = [
  ['', 'href'], // a, link, area, base
  ['', 'src'],
  ['', 'action'],
  ['', 'formaction'],
  ['', 'poster'],
  ['object', 'data'],
]

/** `[attr^="…"]` for every value start the mapper may change (case-insensitive for origins). */
function urlSelector(mapper: UrlMapper, element: string, attribute: string): string {
  // Root-relative ("/x", and "//host" protocol-relative) only changes in direct mode.
  const starts = [mapper.desktop ? '//' : '/', ' ', ...mapper.upstreamOrigins]
  return starts.map((s) => `${element}[${attribute}^="${s}" i]`).join(',')
}

const RAW = { html: true } as const

/** `url` mapped, or null when the mapper leaves it alone (so the attribute is not re-serialised). */
function mapOrNull(mapper: UrlMapper, url: string): string | null {
  const mapped = mapper.map(url)
  return mapped === url.trim() ? null : mapped
}

/**
 * Whether the browser fetches `url` through the gateway: relative, root-relative, upstream, or
 * already rewritten to the public origin (handlers for one element run in either order).
 */
function throughUs(mapper: UrlMapper, url: string): boolean {
  const t = url.trim()
  if (!/^(?:[a-z][a-z\d+.-]*:|\/\/)/i.test(t)) return true
  const publicOrigin = mapper.publicBase.slice(0, mapper.publicBase.length - mapper.prefix.length).toLowerCase()
  const rest = t.slice(publicOrigin.length)
  if (t.slice(0, publicOrigin.length).toLowerCase() === publicOrigin && (rest === '' || '/?#'.includes(rest[0]!))) return true
  return mapper.mapAbsolute(t) !== t
}

/** srcset: comma-separated candidates "url [descriptor]"; URLs may contain commas (data:). */
export function rewriteSrcset(value: string, mapper: UrlMapper): string {
  let out = ''
  let i = 0
  const n = value.length
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f'
  while (i < n) {
    let j = i
    while (j < n && (isSpace(value[j]) || value[j] === ',')) j++
    out += value.slice(i, j)
    i = j
    if (i >= n) break
    while (j < n && !isSpace(value[j])) j++
    let url = value.slice(i, j)
    // Per the HTML spec, commas ending the URL token end the candidate.
    const commas = /,+$/.exec(url)?.[0] ?? ''
    url = url.slice(0, url.length - commas.length)
    out += mapper.map(url) + commas
    i = j
    if (commas) continue
    // Descriptors run to the next comma outside parentheses.
    let depth = 0
    while (j < n) {
      const c = value[j]
      if (c === '(') depth++
      else if (c === ')') depth = Math.max(0, depth - 1)
      else if (c === ',' && depth === 0) break
      j++
    }
    out += value.slice(i, j)
    i = j
  }
  return out
}

// Attribute values come raw (entities not decoded), so a quoted url() in a style attribute
// reads `url(&quot;/x&quot;)`. setAttribute escapes `"` back to &quot; itself.
const QUOTE_ENTITIES = /&(?:quot|#34|#x22|apos|#39|#x27);/gi
const decodeQuotes = (s: string) => s.replace(QUOTE_ENTITIES, (e) => (/quot|34|22/i.test(e) ? '"' : "'"))

function scriptKind(type: string | null): TextKind | null {
  const t = (type ?? '').split(';')[0]!.trim().toLowerCase()
  if (t === '' || t === 'module' || /^(?:text|application)\/(?:x-)?(?:java|ecma)script$/.test(t)) return 'js'
  if (t === 'importmap' || t === 'speculationrules' || /(?:^application\/|\+)json$/.test(t)) return 'json'
  return null // templates and other data blocks are left alone
}

/** Streams a raw-text element's content (<style>, <script>) through the text rules. */
function rawTextHandler(mapper: UrlMapper, kindOf: () => TextKind | null): (chunk: HtmlTextChunk) => void {
  let core: TextCore | null = null
  return (chunk) => {
    if (!core) {
      const kind = kindOf()
      if (!kind) return
      core = createTextCore(kind, mapper)
    }
    let out = core.push(chunk.text)
    if (chunk.lastInTextNode) {
      out += core.flush()
      core = null
    }
    // Always replace while a core is active: the core may be carrying text from earlier chunks.
    chunk.replace(out, RAW)
  }
}

/**
 * The handler set for one document (it keeps per-document state: call once per response).
 * Direct mode also injects the runtime shim; desktop mode does not — see shimFor().
 */
export function htmlHandlers(mapper: UrlMapper): HtmlHandlerList {
  const list: HtmlHandlerList = []
  for (const [element, attribute] of URL_ATTRIBUTES) {
    list.push([
      urlSelector(mapper, element, attribute),
      {
        element(el) {
          const value = el.getAttribute(attribute)
          const mapped = value === null ? null : mapOrNull(mapper, value)
          if (mapped !== null) el.setAttribute(attribute, mapped)
        },
      },
    ])
  }
  list.push([
    '[srcset]',
    {
      element(el) {
        const value = el.getAttribute('srcset')
        if (value === null) return
        const mapped = rewriteSrcset(value, mapper)
        if (mapped !== value) el.setAttribute('srcset', mapped)
      },
    },
  ])
  list.push([
    'meta[http-equiv="refresh" i]',
    {
      element(el) {
        const content = el.getAttribute('content')
        if (content === null) return
        const mapped = mapRefresh(content, mapper)
        if (mapped !== content) el.setAttribute('content', mapped)
      },
    },
  ])
  list.push([
    // Absolute upstream URLs in CSS sit inside url() too; image-set("…") strings are not rewritten.
    '[style*="url(" i]',
    {
      element(el) {
        const value = el.getAttribute('style')
        if (value === null) return
        const decoded = decodeQuotes(value)
        const mapped = rewriteText('css', decoded, mapper)
        if (mapped !== decoded) el.setAttribute('style', mapped)
      },
    },
  ])
  list.push(['style', { text: rawTextHandler(mapper, () => 'css') }])
  // A script or stylesheet that comes through us may be rewritten, and then its Subresource
  // Integrity hash no longer matches and the browser refuses it. Foreign-origin ones keep theirs.
  list.push([
    'script[integrity],link[integrity]',
    {
      element(el) {
        const url = el.getAttribute(el.tagName.toLowerCase() === 'script' ? 'src' : 'href')
        if (url !== null && throughUs(mapper, url)) el.removeAttribute('integrity')
      },
    },
  ])
  // Inline scripts get the same rules as script files (absolute upstream URLs, SockJS "/ws").
  let currentScript: TextKind | null = null
  list.push([
    'script',
    {
      element(el) {
        currentScript = scriptKind(el.getAttribute('type'))
      },
      text: rawTextHandler(mapper, () => currentScript),
    },
  ])

  const shim = shimFor(mapper)
  if (shim !== null) {
    let injected = false
    const inject = (how: (content: string) => unknown) => {
      if (injected) return
      injected = true
      how(shim)
    }
    // A shim from an earlier pass is dropped; the fresh one lands at the same place, so
    // rewriting rewritten HTML changes nothing.
    list.push([`script[${SHIM_ATTRIBUTE}]`, { element: (el) => void el.remove() }])
    list.push(['head', { element: (el) => inject((s) => el.prepend(s, RAW)) }])
    // No <head>: before the first element inside <html> (the parser puts it in an implied head)…
    list.push(['html > *', { element: (el) => el.tagName.toLowerCase() !== 'head' && inject((s) => el.before(s, RAW)) }])
    // …or before <body> when there is no <html> either. Fragments without any of the three get none.
    list.push(['body', { element: (el) => inject((s) => el.before(s, RAW)) }])
  }
  return list
}

/**
 * The shim is for direct mode, where page scripts build root-relative URLs that need the prefix.
 * In desktop mode the local proxy serves Zenzefi at its root, so root-relative URLs are already
 * right; absolute upstream URLs are rewritten statically in HTML, CSS, JS and JSON, and URLs
 * built at run time from `location` already point at the local proxy. So desktop pages get no shim.
 */
function shimFor(mapper: UrlMapper): string | null {
  return mapper.desktop ? null : shimScript(mapper)
}
