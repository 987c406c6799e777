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
  /** `re` anchored where lastIndex points (flag y): tried at each needle only. */
  sticky: RegExp
  maxMatch: number
  /** Every literal a match of `re` starts with (case-insensitive): see needlesFor(). */
  needles: Needles
}

// Compiled per (kind, upstream origins): building and first-running a regex costs more than a
// small body. Sharing one /g regex is safe because every use resets lastIndex and runs to
// completion synchronously. Mappers live as long as the config (src/gateway/mappers.ts), so
// most lookups are by identity, without building the key.
const rulesCache = new Map<string, Rules>()
const rulesByMapper = new WeakMap<UrlMapper, Partial<Record<TextKind, Rules>>>()

function rulesFor(kind: TextKind, mapper: UrlMapper): Rules {
  let perKind = rulesByMapper.get(mapper)
  const known = perKind?.[kind]
  if (known) return known
  const key = `${kind}\n${mapper.upstreamOrigins.join('\n')}`
  let rules = rulesCache.get(key)
  if (!rules) {
    if (rulesCache.size >= 64) rulesCache.clear()
    rules = buildRules(kind, mapper)
    rulesCache.set(key, rules)
  }
  if (!perKind) rulesByMapper.set(mapper, (perKind = {}))
  perKind[kind] = rules
  return rules
}

function buildRules(kind: TextKind, mapper: UrlMapper): Rules {
  const alts: string[] = []
  let maxMatch = 0
  for (const origin of mapper.upstreamOrigins) {
    // https://host:port/path…
    alts.push(`${ci(origin)}${NOT_ORIGIN_END}(?:[\\/?#]${PATH_CHAR}{0,${MAX_PATH}})?`)
    // JSON-escaped: https:\/\/host:port\/path…
    const escaped = escapedOrigin(origin)
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
    for (const q of JS_QUOTES) {
      alts.push(`${q}\\/ws(?:[\\/?#][^${q}\\s\\\\]{0,${MAX_PATH}})?(?=${q})`)
    }
    maxMatch = Math.max(maxMatch, 2 + 3 + MAX_PATH + 1)
  }
  const source = alts.join('|')
  return { re: new RegExp(source, 'g'), sticky: new RegExp(source, 'y'), maxMatch: maxMatch + 2, needles: createNeedles(needlesFor(kind, mapper)) }
}

const JS_QUOTES = ['"', "'", '`'] as const
const escapedOrigin = (origin: string) => origin.replace(/\//g, '\\/')

/**
 * The pre-scan's literals: every alternative in buildRules() starts with one of them (ASCII
 * case-insensitively), so text holding none of them can't match and skips the regex entirely.
 * Keep the two lists in step: a rule whose match starts with anything else would be skipped.
 */
function needlesFor(kind: TextKind, mapper: UrlMapper): string[] {
  const list: string[] = []
  for (const origin of mapper.upstreamOrigins) list.push(origin, escapedOrigin(origin))
  if (kind === 'css') list.push('url(', '@import')
  if (kind === 'js') for (const q of JS_QUOTES) list.push(`${q}/ws`)
  return [...new Set(list.map((n) => n.replace(/[A-Z]/g, (c) => c.toLowerCase())))]
}

// ---- The pre-scan -------------------------------------------------------------------------
// Most REST answers and many scripts hold no upstream URL: finding that out must cost a scan
// for a few literals, not a run of the rule regex (a dozen alternatives with 1 K repeats) nor,
// on the byte path, a UTF-8 decode and re-encode. Literals match ASCII case-insensitively.

interface Needles {
  /** Text: the literals as one case-insensitive alternation (a superset of the rules' ASCII folding). */
  probe: RegExp
  /** Bytes: the literals UTF-8 encoded with A-Z folded to a-z. */
  list: Uint8Array[]
  /** Horspool window: the shortest literal's length in bytes (at most 255, the shift table's range). */
  window: number
  /** The longest literal's length in bytes. */
  max: number
  /** Shift by the byte that ends the window; 0: some literal's first `window` bytes may end there. */
  shift: Uint8Array
  /** 1 for a byte that can begin a literal. */
  first: Uint8Array
}

const FOLD = new Uint8Array(256).map((_, c) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c))

function createNeedles(literals: string[]): Needles {
  const encoder = new TextEncoder()
  const kept = literals.filter((l) => l !== '')
  const list = kept.map((l) => encoder.encode(l).map((b) => FOLD[b]!))
  const first = new Uint8Array(256)
  const window = list.length ? Math.min(255, ...list.map((n) => n.byteLength)) : 1
  const shift = new Uint8Array(256).fill(window)
  for (const n of list) {
    for (let b = 0; b < 256; b++) if (n[0] === FOLD[b]) first[b] = 1
    for (let j = 0; j < window; j++) {
      const v = window - 1 - j
      for (let b = 0; b < 256; b++) if (FOLD[b] === n[j] && shift[b]! > v) shift[b] = v
    }
  }
  const probe = kept.length ? new RegExp(kept.map(escapeRe).join('|'), 'gi') : /(?!)/g
  return { probe, list, window, max: list.length ? Math.max(...list.map((n) => n.byteLength)) : 1, shift, first }
}

/** Index of the first needle at or after `from` in `text`, or -1. */
function probeText(n: Needles, text: string, from: number): number {
  n.probe.lastIndex = from
  const m = n.probe.exec(text)
  return m === null ? -1 : m.index
}

/** Whether a whole needle (folded) starts at b[i]. */
function needleAt(n: Needles, b: Uint8Array, i: number): boolean {
  if (n.first[b[i]!] === 0) return false
  const { list } = n
  for (let k = 0; k < list.length; k++) {
    const needle = list[k]!
    const len = needle.byteLength
    if (i + len > b.byteLength) continue
    let j = 0
    while (j < len && FOLD[b[i + j]!] === needle[j]) j++
    if (j === len) return true
  }
  return false
}

/**
 * Index of the first whole needle in `b`, or -1. Set-Horspool: the byte at the end of each
 * window says how far the next possible start is, so most bytes are never read.
 */
function findNeedle(n: Needles, b: Uint8Array): number {
  const { window, shift } = n
  if (n.list.length === 0) return -1
  for (let i = 0, last = b.byteLength - window; i <= last; ) {
    const s = shift[b[i + window - 1]!]!
    if (s !== 0) i += s
    else if (needleAt(n, b, i)) return i
    else i++
  }
  return -1
}

/** Length of the longest end of `b` that is the start of a needle (it may complete in the next chunk). */
function partialNeedleTail(n: Needles, b: Uint8Array): number {
  const end = b.byteLength
  for (let p = Math.max(0, end - n.max + 1); p < end; p++) {
    if (n.first[b[p]!] === 0) continue
    for (const needle of n.list) {
      if (needle.byteLength <= end - p) continue
      let j = 0
      while (p + j < end && FOLD[b[p + j]!] === needle[j]) j++
      if (p + j === end) return end - p
    }
  }
  return 0
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

/** Matches closer together than this are found faster by one scan of `re` than by probe + anchored try. */
const DENSE_GAP = 512

/**
 * The rule matches in `text` that start before `limit`, replaced: returns the output up to the
 * end of the last match and sets `state.pos` there. Every match starts with a needle, so where
 * matches are sparse the rules are only tried (anchored) where the probe finds one, in order:
 * the first that matches is the leftmost match. Where they are dense, `re` scans on from the
 * last match itself. Both give what one scan of the whole text with `re` gives. `first`: the
 * probe's answer from 0, when the caller has it.
 */
function rewriteUpTo(rules: Rules, replace: (m: string) => string, text: string, limit: number, state: { pos: number }, first?: number): string {
  const { re, sticky, needles } = rules
  let out = ''
  let pos = 0
  let dense = false
  for (;;) {
    let m: RegExpExecArray | null = null
    let end: number
    if (dense) {
      re.lastIndex = pos
      m = re.exec(text)
      if (m === null || m.index >= limit) break
      end = re.lastIndex
    } else {
      let from = first ?? probeText(needles, text, pos)
      first = undefined
      while (from >= 0 && from < limit) {
        sticky.lastIndex = from
        m = sticky.exec(text)
        if (m !== null) break
        from = probeText(needles, text, from + 1)
      }
      if (m === null) break
      end = sticky.lastIndex
    }
    dense = m.index - pos < DENSE_GAP
    out += text.slice(pos, m.index) + replace(m[0])
    pos = end
  }
  state.pos = pos
  return out
}

export function createTextCore(kind: TextKind, mapper: UrlMapper): TextCore {
  const rules = rulesFor(kind, mapper)
  const replace = replacer(mapper)
  // A decision at p needs [p, p + maxMatch] plus one character of lookahead.
  const hold = rules.maxMatch + 1
  const state = { pos: 0 }
  let carry = ''
  return {
    push(text) {
      const buf = carry + text
      const settled = buf.length - hold
      if (settled <= 0) {
        carry = buf
        return ''
      }
      let out = rewriteUpTo(rules, replace, buf, settled, state)
      const pos = state.pos
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
      const out = rewriteUpTo(rules, replace, buf, buf.length, state)
      return out + buf.slice(state.pos)
    },
  }
}

/** Rewrite a complete string (small bodies on Node, an inline style attribute). Text without a needle comes back as is. */
export function rewriteText(kind: TextKind, text: string, mapper: UrlMapper): string {
  const rules = rulesFor(kind, mapper)
  const first = probeText(rules.needles, text, 0)
  if (first < 0) return text
  const state = { pos: 0 }
  const out = rewriteUpTo(rules, replacer(mapper), text, text.length, state, first)
  return out + text.slice(state.pos)
}

/** The rules without any pre-scan: one global replace. The reference the fast paths must agree with (tests). */
export function rewriteTextReference(kind: TextKind, text: string, mapper: UrlMapper): string {
  const { re } = rulesFor(kind, mapper)
  re.lastIndex = 0
  return text.replace(re, replacer(mapper))
}

const EMPTY = new Uint8Array(0)
// Stateless uses only (no `stream: true`): safe to share. ignoreBOM keeps a leading BOM in the text (and so in the output).
const ENCODER = new TextEncoder()
const WHOLE_DECODER = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b
  if (b.byteLength === 0) return a
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

/**
 * A complete UTF-8 body rewritten: what createTextRewriter gives for it, in one call. A body
 * without a needle is returned as is (the same array), without decoding it.
 */
export function rewriteTextBytes(kind: TextKind, bytes: Uint8Array, mapper: UrlMapper): Uint8Array {
  const rules = rulesFor(kind, mapper)
  const at = findNeedle(rules.needles, bytes)
  if (at < 0) return bytes
  const text = WHOLE_DECODER.decode(bytes.subarray(at))
  return concat(bytes.subarray(0, at), ENCODER.encode(rewriteText(kind, text, mapper)))
}

/**
 * The byte-level streaming transform over UTF-8 bodies.
 *
 * Until the first needle, bytes pass as they came: no decoding, no copy (a held tail that may
 * begin a needle aside). From the first needle on — an ASCII byte, so a character boundary —
 * the rest is decoded and goes through the text core. Where that switch happens depends only
 * on the body, never on how it was cut, so chunked output still equals whole output. For valid
 * UTF-8 this is exactly decode + rewrite + encode; invalid bytes before the first needle pass
 * unchanged instead of becoming U+FFFD.
 */
export function createTextRewriter(kind: TextKind, mapper: UrlMapper): ChunkRewriter {
  return new TextRewriter(kind, mapper)
}

// A class, not a closure: a small body's cost is mostly per-response setup.
class TextRewriter implements ChunkRewriter {
  private readonly needles: Needles
  /** Bytes mode: the end of the last chunk that may be the start of a needle. */
  private held: Uint8Array = EMPTY
  /** Text mode (from the first needle on). */
  private core: TextCore | null = null
  private decoder: TextDecoder | null = null

  constructor(
    private readonly kind: TextKind,
    private readonly mapper: UrlMapper,
  ) {
    this.needles = rulesFor(kind, mapper).needles
  }

  async write(chunk: Uint8Array): Promise<Uint8Array> {
    if (this.core !== null) return ENCODER.encode(this.core.push(this.decoder!.decode(chunk, { stream: true })))
    const buf = concat(this.held, chunk)
    const at = findNeedle(this.needles, buf)
    const free = buf.byteLength - partialNeedleTail(this.needles, buf)
    if (at >= 0 && at < free) {
      this.held = EMPTY
      return this.toText(buf, at)
    }
    // No needle starts before `free` (a whole one after it lies inside the held tail).
    if (free === buf.byteLength) {
      this.held = EMPTY
      return buf
    }
    this.held = buf.slice(free)
    return buf.subarray(0, free)
  }

  async end(): Promise<Uint8Array> {
    if (this.core === null) {
      const buf = this.held
      this.held = EMPTY
      const at = findNeedle(this.needles, buf)
      if (at < 0) return buf
      return concat(this.toText(buf, at), this.finish())
    }
    return this.finish()
  }

  free(): void {}

  /** From needle `at` on, `buf` goes through the text core, and so does everything after it. */
  private toText(buf: Uint8Array, at: number): Uint8Array {
    this.core = createTextCore(this.kind, this.mapper)
    // Its own decoder: it keeps a character cut between chunks. ignoreBOM keeps a BOM in the text.
    this.decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })
    return concat(buf.subarray(0, at), ENCODER.encode(this.core.push(this.decoder.decode(buf.subarray(at), { stream: true }))))
  }

  private finish(): Uint8Array {
    const rest = this.core!.push(this.decoder!.decode())
    return ENCODER.encode(rest + this.core!.flush())
  }
}
