import { randomBytes } from 'node:crypto'

/**
 * One WebSocket frame as RFC 6455 lays it out, written independently of the code under test:
 * masked with `mask` (a random key by default), or not (`mask: null`).
 */
export function frame(opcode: number, payload: Buffer | string, o: { fin?: boolean; mask?: Buffer | null; rsv?: number } = {}): Buffer {
  const data = Buffer.from(payload)
  const mask = o.mask === undefined ? randomBytes(4) : o.mask
  const len = data.length
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0))
  head[0] = (o.fin === false ? 0 : 0x80) | ((o.rsv ?? 0) << 4) | opcode
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127)
  if (ext === 2) head.writeUInt16BE(len, 2)
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2)
  if (!mask) return Buffer.concat([head, data])
  mask.copy(head, 2 + ext)
  return Buffer.concat([head, Buffer.from(data.map((b, i) => b ^ mask[i & 3]!))])
}
