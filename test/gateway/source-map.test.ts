// Source maps are refused through the proxy in every spelling the upstream (a Java server on
// Windows) would serve as the same file; other paths pass.
import { describe, expect, it } from 'vitest'
import { normaliseTarget } from '../../src/gateway/request-target'
import { isSourceMapPath } from '../../src/gateway/source-map'

const MAPS = [
  '/app.js.map',
  '/static/js/main.3f2a.js.map',
  '/.map',
  '/APP.JS.MAP',
  '/app.js.Map',
  // Percent-encoded, any case, any letter.
  '/app.js%2emap',
  '/app.js%2Emap',
  '/app.js.ma%70',
  '/app.js.m%41P',
  '/app.js%2E%6D%61%70',
  // Matrix parameters (Tomcat/Spring drop them), on the file and on earlier segments.
  '/app.js.map;x=1',
  '/app.js.map;jsessionid=1',
  '/static;v=2/app.js.map;jsessionid=ABC',
  '/app.js.map%3Bx=1',
  // Trailing slashes, encoded or not; backslashes.
  '/app.js.map/',
  '/app.js.map//',
  '/app.js.map%2F',
  '/app.js.map%2f',
  '/app.js.map\\',
  '/app.js.map%5C',
  // Dot segments that appear once decoded.
  '/app.js.map/.',
  '/app.js.map/%2e',
  '/x%2F..%2Fapp.js.map',
  // What Windows ignores at the end of a file name.
  '/app.js.map.',
  '/app.js.map%20',
  '/app.js.map. .',
  '/app.js.map::$DATA',
  '/app.js.map%3A%3A%24data',
]

const NOT_MAPS = [
  '/',
  '',
  '/map',
  '/maps/',
  '/sitemap.xml',
  '/a.mapx',
  '/a.map.js',
  '/a.map/index.html',
  '/amap',
  '/a_map',
  '/api/certificates',
  // Double-encoded: Tomcat decodes once, so the upstream looks for a file named `app.js%2emap`.
  '/app.js%252emap',
  '/app.js%252Emap',
  '/app.js.map%252F',
  // The map is left by a dot segment that appears once decoded.
  '/app.js.map%2F..',
  '/app.js.map%2F%2e%2e%2Fapp.js',
  // Invalid escapes stay as they are.
  '/app.js.ma%p',
  '/app.js.map%',
  '/app.js.map%zz',
]

describe('isSourceMapPath', () => {
  it.each(MAPS)('%j is a source map', (path) => {
    expect(isSourceMapPath(path)).toBe(true)
  })

  it.each(NOT_MAPS)('%j is not a source map', (path) => {
    expect(isSourceMapPath(path)).toBe(false)
  })

  it('holds on the normalised request-target too (what routing hands it)', () => {
    for (const raw of ['/api/v1/proxy/js/app.js.map/%2e', '/api/v1/proxy/js/x/..%2F..\\app.js.MAP', 'http://h/api/v1/proxy/app.js%2emap;x=1?y']) {
      expect(isSourceMapPath(normaliseTarget(raw)!.path), raw).toBe(true)
    }
    expect(isSourceMapPath(normaliseTarget('/api/v1/proxy/app.js.map/..')!.path)).toBe(false)
  })
})
