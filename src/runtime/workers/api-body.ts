// API request bodies on Workers, read whole before the app sees them (they are
// small), as the Node server does. A body over the limit is read to its end and
// dropped before the 413 goes out: answering while the client still sends gets
// the connection reset under it, and the client never sees the answer.

/** Past this much a refused body is not waited for: the 413 goes out at once. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024

async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, already: number): Promise<void> {
  let bytes = already
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    if ((bytes += value.byteLength) > DRAIN_LIMIT_BYTES) return void reader.cancel().catch(() => {})
  }
}

/** What readApiBody gives for a body over the limit (read and dropped): the caller answers 413. */
export const TOO_LARGE: unique symbol = Symbol('request body too large')

/** The request with its body read into memory, or TOO_LARGE. */
export async function readApiBody(request: Request, limit: number): Promise<Request | typeof TOO_LARGE> {
  if (request.body === null || request.method === 'GET' || request.method === 'HEAD') return request
  const tooLarge = (): typeof TOO_LARGE => TOO_LARGE
  const reader = request.body.getReader()
  if (Number(request.headers.get('content-length') ?? 0) > limit) {
    await discard(reader, 0)
    return tooLarge()
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await discard(reader, size)
      return tooLarge()
    }
    chunks.push(value)
  }
  const body = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    body.set(c, at)
    at += c.byteLength
  }
  return new Request(request, { body })
}
