import { Transform, type TransformCallback } from 'node:stream'
import type { ChunkRewriter } from '../../rewrite/body'

/** A Node Transform around the shared chunk rewriter: backpressure comes from pipeline(). */
export function rewriteTransform(r: ChunkRewriter): Transform {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength)
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      r.write(chunk).then((out) => cb(null, out.byteLength ? buf(out) : undefined), cb)
    },
    flush(cb: TransformCallback) {
      r.end().then(
        (out) => {
          r.free()
          cb(null, out.byteLength ? buf(out) : undefined)
        },
        (err) => {
          r.free()
          cb(err)
        },
      )
    },
    destroy(err, cb) {
      r.free()
      cb(err)
    },
  })
}
