// The Workers built-in HTMLRewriter running the same handler list as html-rewriter-wasm on Node.
import { htmlHandlers } from '../../rewrite/html'
import type { UrlMapper } from '../../rewrite/url-mapper'

declare const HTMLRewriter: {
  new (): { on(selector: string, handlers: object): unknown; transform(response: Response): Response }
}

export function rewriteHtmlBuiltIn(body: ReadableStream<Uint8Array>, mapper: UrlMapper): ReadableStream<Uint8Array> {
  const rewriter = new HTMLRewriter()
  for (const [selector, handlers] of htmlHandlers(mapper)) rewriter.on(selector, handlers)
  return rewriter.transform(new Response(body, { headers: { 'content-type': 'text/html' } })).body!
}
