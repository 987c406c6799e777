// The request-target as routing and forwarding must see it. Node hands us the raw target of the
// request line; Workers hand us a WHATWG-parsed URL. Routing on the raw spelling would let
// `/api/v1/proxy/../../x` or `http://evil/api/v1/proxy/x` be judged as one path and forwarded
// as another, so both runtimes decide on this normal form, which matches what the WHATWG URL
// parser makes of the same target (dot segments, `\`) without decoding anything else.

export interface RequestTarget {
  /** Starts with `/`; dot segments resolved; every other byte as received (`%2F` stays `%2F`). */
  path: string
  /** From the first `?` on, verbatim ('' when there is none). */
  search: string
}

/** RFC 5234 CTL (C0 and DEL) or space: never part of a valid request-target. */
function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x20 || c === 0x7f) return true
  }
  return false
}
const ABSOLUTE_HTTP = /^https?:[/\\]{2}/i
// `.` or `..`, each dot literal or percent-encoded in any case (`%2e`, `.%2E`, …), as WHATWG reads them.
const DOT = /^(?:\.|%2e)$/i
const DOT_DOT = /^(?:\.|%2e){2}$/i

/**
 * Origin-form (`/a/b?q`) and absolute-form (`http(s)://authority/a?q`, scheme any case; the
 * authority is ignored, never trusted) targets in normal form: `\` read as `/` in the path,
 * dot segments removed (RFC 3986 §5.2.4; never above `/`), empty path `/`, query kept
 * verbatim, `#fragment` dropped. Null for anything else: asterisk-form `*`, authority-form
 * `host:port`, other schemes, an empty target, or a control character or space in it.
 */
export function normaliseTarget(raw: string): RequestTarget | null {
  if (raw === '' || hasControlOrSpace(raw)) return null
  const hash = raw.indexOf('#')
  let rest = hash < 0 ? raw : raw.slice(0, hash)
  if (ABSOLUTE_HTTP.test(rest)) {
    const afterScheme = rest.indexOf(':') + 3
    const end = rest.slice(afterScheme).search(/[/\\?]/)
    if (end === 0) return null // no authority: `http:///x`
    rest = end < 0 ? '' : rest.slice(afterScheme + end)
  } else if (rest[0] !== '/') {
    return null
  }
  const q = rest.indexOf('?')
  const path = q < 0 ? rest : rest.slice(0, q)
  const search = q < 0 ? '' : rest.slice(q)
  return { path: removeDotSegments(path.replace(/\\/g, '/')), search }
}

/** RFC 3986 §5.2.4 over a path that is empty or starts with `/`, with WHATWG's encoded dots. */
function removeDotSegments(path: string): string {
  const segments = path.split('/')
  const out: string[] = []
  // segments[0] is '' (the path starts with '/', or is empty).
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!
    const last = i === segments.length - 1
    if (DOT.test(s)) {
      if (last) out.push('')
    } else if (DOT_DOT.test(s)) {
      out.pop()
      if (last) out.push('')
    } else {
      out.push(s)
    }
  }
  return `/${out.join('/')}`
}
