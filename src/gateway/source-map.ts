// The contract refuses source maps through the proxy. `path.endsWith('.map')` is bypassed by
// spelling the same file differently (`.MAP`, `%2emap`, `.map;jsessionid=1`, `.map/`), and
// Zenzefi — a Java server on Windows — serves all of those as the map. So the decision is taken
// on the path the way such a server resolves it: decoded once, matrix parameters dropped,
// dot segments removed, trailing slashes and Windows' ignored file-name endings stripped,
// compared without case.

/** One decoding pass, as Tomcat does: `%252e` becomes `%2e`, not `.`. An invalid escape stays as it is. */
const decodeOnce = (s: string) => s.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))

// What Windows drops from the end of a file name (`a.map.`, `a.map `) and the NTFS default-stream suffix (`a.map::$DATA`).
const WINDOWS_NAME_END = /(?:[. ]|::\$data)+$/i
const MAP_ANY_CASE = /map/i

/**
 * Whether `path` (a request path, query excluded) names a source map: the last segment of its
 * decoded, normalised form ends in `.map`, any case. `%252emap` is not one (decoded once it
 * reads `%2emap`, which is what the upstream looks up).
 */
export function isSourceMapPath(path: string): boolean {
  // Undecoded, the last name is a piece of the path: without `%` and without "map" in any case it can't end in `.map`.
  if (!path.includes('%') && !MAP_ANY_CASE.test(path)) return false
  const segments = decodeOnce(path).replace(/\\/g, '/').split('/')
  const out: string[] = []
  for (const raw of segments) {
    const s = raw.split(';')[0]!
    if (s === '.' || s === '') continue
    if (s === '..') out.pop()
    else out.push(s)
  }
  const name = (out.at(-1) ?? '').replace(WINDOWS_NAME_END, '')
  return name.toLowerCase().endsWith('.map')
}
