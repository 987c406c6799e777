// The shape every body rewriter has, whatever engine is behind it (text rules, html-rewriter-wasm).
export interface ChunkRewriter {
  /** Feed one upstream chunk; returns the output ready so far (may be empty). */
  write(chunk: Uint8Array): Promise<Uint8Array>
  /** End of body: the remaining output. */
  end(): Promise<Uint8Array>
  /** Release resources (wasm memory); idempotent; called on end, error and client abort. */
  free(): void
}
