// Streaming URL rewriting for CSS, JavaScript and JSON bodies.
//
// Every rule is one regex alternative whose match is at most `maxMatch` characters long (~2 K).
// Whether a match starts at position p depends only on the text in [p, p + maxMatch], so
// positions further than that from the end of what we have are "settled": the answer there is
// the one the whole body would give. Each push emits the settled text and carries the rest
// (≤ `hold` characters) into the next chunk. So chunked output is identical to whole output,
// matches split across chunk boundaries are found, and memory is constant for any body size.
// No rule looks behind its start, so the carry needs no left context.

import type { ChunkRewriter } from './chunk-rewriter'
import type { UrlMapper } from './url-mapper'

export type TextKind = 'css' | 'js' | 'json'

/** Longest URL path (after the origin, or a root-relative path) a rule looks at. */
const MAX_PATH = 1024
/** Whitespace allowed in `url(  /x)` and `@import  "/x"`. */
const MAX_WS = 16

export interface TextCore {
  /** Feed decoded text; returns the text that is settled (may be ''). */
  push(text: string): string
  /** End of text: everything still carried, rewritten. */
  flush(): string
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/** Case-insensitive spelling of a literal without the `i` flag (which would also fold `/ws`). */
const ci = (s: string) => [...s].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : escapeRe(c))).join('')

// A host or port would continue with one of these; anything else ends the origin. `@` keeps
// `https://upstream@evil` (userinfo) from matching.
const NOT_ORIGIN_END = String.raw`(?![\w.\-:@%~+])`
// URL characters we carry along so the mapper can see whether the prefix is already there.
// Surrogates are excluded so a match never ends between the halves of a pair.
const PATH_CHAR = String.raw`[^\s"'\`()<>\\\uD800-\uDFFF]`
const ROOT_PATH = String.raw`\/(?![\/\\])`

interface Rules {
  re: RegExp
  maxMatch: number
}

// Compiled per (kind, upstream origins): building and first-running a regex costs more than a
// small body. Sharing one /g regex is safe because every use resets lastIndex and runs to
// completion synchronously.
const rulesCache = new Map<string, Rules>()

function rulesFor(kind: TextKind, mapper: UrlMapper): Rules {
  const key = `${kind}\n${mapper.upstreamOrigins.join('\n')}`
  let rules = rulesCache.get(key)
  if (!rules) {
    if (rulesCache.size >= 64) rulesCache.clear()
    rules = buildRules(kind, mapper)
    rulesCache.set(key, rules)
  }
  return rules
}

function buildRules(kind: TextKind, mapper: UrlMapper): Rules {
  const alts: string[] = []
  let maxMatch = 0
  for (const origin of mapper.upstreamOrigins) {
    // https://host:port/path…
    alts.push(`${ci(origin)}${NOT_ORIGIN_END}(?:[\\/?#]${PATH_CHAR}{0,${MAX_PATH}})?`)
    // JSON-escaped: https:\/\/host:port\/path…
    const escaped = origin.replace(/\//g, '\\/')
    alts.push(`${ci(escaped)}${NOT_ORIGIN_END}(?:(?:\\\\\\/|[?#])(?:\\\\\\/|${PATH_CHAR}){0,${MAX_PATH}})?`)
    maxMatch = Math.max(maxMatch, escaped.length + 2 * (MAX_PATH + 1))
  }
  if (kind === 'css') {
    const url = `${ci('url(')}\\s{0,${MAX_WS}}`
    alts.push(`${url}"${ROOT_PATH}[^"\\n\\\\]{0,${MAX_PATH}}(?=")`)
    alts.push(`${url}'${ROOT_PATH}[^'\\n\\\\]{0,${MAX_PATH}}(?=')`)
    alts.push(`${url}${ROOT_PATH}${PATH_CHAR}{0,${MAX_PATH}}(?=[\\s)])`)
    const imp = `${ci('@import')}\\s{0,${MAX_WS}}`
    alts.push(`${imp}"${ROOT_PATH}[^"\\n\\\\]{0,${MAX_PATH}}(?=")`)
    alts.push(`${imp}'${ROOT_PATH}[^'\\n\\\\]{0,${MAX_PATH}}(?=')`)
    maxMatch = Math.max(maxMatch, 8 + MAX_WS + 2 + MAX_PATH + 1)
  }
  if (kind === 'js') {
    // SockJS endpoints: "/ws", '/ws/info', `/ws?x` — the string literal must end right after.
    for (const q of ['"', "'", '`']) {
      alts.push(`${q}\\/ws(?:[\\/?#][^${q}\\s\\\\]{0,${MAX_PATH}})?(?=${q})`)
    }
    maxMatch = Math.max(maxMatch, 2 + 3 + MAX_PATH + 1)
  }
  return { re: new RegExp(alts.join('|'), 'g'), maxMatch: maxMatch + 2 }
}

function replacer(mapper: UrlMapper): (m: string) => string {
  return (m) => {
    const c = m[0]!
    if (c === '"' || c === "'" || c === '`') return c + mapper.map(m.slice(1))
    if (c === 'u' || c === 'U' || c === '@') {
      // url( "/x" or @import '/x': the path starts at the first slash.
      const i = m.indexOf('/')
      return m.slice(0, i) + mapper.map(m.slice(i))
    }
    if (m.includes(':\\/\\/')) return mapper.mapAbsolute(m.replace(/\\\//g, '/')).replace(/\//g, '\\/')
    return mapper.mapAbsolute(m)
  }
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

export function createTextCore(kind: TextKind, mapper: UrlMapper): TextCore {
  const { re, maxMatch } = rulesFor(kind, mapper)
  const replace = replacer(mapper)
  // A decision at p needs [p, p + maxMatch] plus one character of lookahead.
  const hold = maxMatch + 1
  let carry = ''
  return {
    push(text) {
      const buf = carry + text
      const settled = buf.length - hold
      if (settled <= 0) {
        carry = buf
        return ''
      }
      let out = ''
      let pos = 0
      re.lastIndex = 0
      for (let m = re.exec(buf); m !== null && m.index < settled; m = re.exec(buf)) {
        out += buf.slice(pos, m.index) + replace(m[0])
        pos = re.lastIndex
      }
      let cut = Math.max(pos, settled)
      // Never split a surrogate pair between output and carry (it would encode as U+FFFD).
      if (cut > pos && isHighSurrogate(buf.charCodeAt(cut - 1))) cut--
      out += buf.slice(pos, cut)
      carry = buf.slice(cut)
      return out
    },
    flush() {
      const buf = carry
      carry = ''
      re.lastIndex = 0
      return buf.replace(re, replace)
    },
  }
}

/** Rewrite a complete string (an inline style attribute, tests). */
export function rewriteText(kind: TextKind, text: string, mapper: UrlMapper): string {
  const core = createTextCore(kind, mapper)
  return core.push(text) + core.flush()
}

/** The byte-level streaming transform over UTF-8 bodies. */
export function createTextRewriter(kind: TextKind, mapper: UrlMapper): ChunkRewriter {
  const core = createTextCore(kind, mapper)
  // ignoreBOM keeps a leading BOM in the text (and so in the output) instead of dropping it.
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })
  const encoder = new TextEncoder()
  return {
    async write(chunk: Uint8Array): Promise<Uint8Array> {
      return encoder.encode(core.push(decoder.decode(chunk, { stream: true })))
    },
    async end(): Promise<Uint8Array> {
      const rest = core.push(decoder.decode())
      return encoder.encode(rest + core.flush())
    },
    free() {},
  }
}
