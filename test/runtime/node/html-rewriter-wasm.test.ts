// Node's HTML engine loads its WebAssembly on the first HTML body it rewrites, not when the server starts.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { createUrlMapper } from '../../../src/rewrite/url-mapper'

const require = createRequire(import.meta.url)
/** html-rewriter-wasm compiles and instantiates its .wasm as this module is evaluated. */
const ENGINE = require.resolve('html-rewriter-wasm')
const mapper = createUrlMapper({ upstream: 'https://zenzefi.local:61000', backendUrl: 'http://gw.example', localUrl: null })

describe('the html-rewriter-wasm adapter', () => {
  it('loads the engine on the first HTML body, then rewrites it', async () => {
    const { createWasmHtmlRewriter, rewriterFor } = await import('../../../src/runtime/node/html-rewriter-wasm')
    expect(require.cache[ENGINE], 'loaded by importing the adapter').toBeUndefined()
    // Bodies that are not HTML never load it.
    const css = rewriterFor('text/css', mapper)!
    await css.write(new TextEncoder().encode('a{background:url(https://zenzefi.local:61000/x.png)}'))
    await css.end()
    css.free()
    expect(require.cache[ENGINE], 'loaded for a CSS body').toBeUndefined()

    const html = createWasmHtmlRewriter(mapper)
    expect(require.cache[ENGINE]).toBeDefined()
    const out = [await html.write(new TextEncoder().encode('<a href="https://zenzefi.local:61000/page">x</a>')), await html.end()]
    html.free()
    expect(Buffer.concat(out).toString()).toBe('<a href="http://gw.example/api/v1/proxy/page">x</a>')
    // Later bodies share the one engine.
    const again = rewriterFor('text/html', mapper)!
    expect(Buffer.concat([await again.write(new TextEncoder().encode('<img src="https://zenzefi.local:61000/i.png">')), await again.end()]).toString()).toBe(
      '<img src="http://gw.example/api/v1/proxy/i.png">',
    )
    again.free()
  })
})
