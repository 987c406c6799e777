// WebSocket frames as the splice relay sees them: a header reader that follows one
// direction's frame boundaries across TCP chunks without touching payloads, and the
// few frames the gateway writes itself (close frames).

import { randomFillSync } from 'node:crypto'

/** Why `FrameReader.scan` returned. */
export const Stop = {
  /** The chunk is consumed (it may end inside a header: see `inHeader`, `headerStart`). */
  End: 0,
  /** A frame ended here and the caller asked to stop at the next boundary. */
  Boundary: 1,
  /** A close frame ended here: `closeCode` is its code. */
  Close: 2,
  /** The header that began at `headerStart` breaks the protocol (`violation`: 1002) or the size cap (1009). */
  Violation: 3,
} as const
export type Stop = (typeof Stop)[keyof typeof Stop]

const MAX_HEADER = 14
/** RFC 6455 §5.2: 63-bit lengths; `ws` refuses past 2^53 - 1, as we do (a JS number stays exact). */
const MAX_HIGH_WORD = 0x1fffff

/**
 * One direction's frame boundaries, read from the headers alone: payload bytes are
 * skipped by count, never copied or unmasked (a close frame's first two bytes are
 * read, for its code). `masked`: whether this direction's frames must be masked
 * (client → server) or must not be (server → client).
 */
export class FrameReader {
  /** Past a violation or a cut, only boundaries and close frames are followed: nothing is refused. */
  lenient = false
  stop: Stop = Stop.End
  violation = 0
  closeCode = 1005
  /** Offset in the last chunk where an unfinished (or the refused) header began; 0 if it began in an earlier chunk. */
  headerStart = 0

  private remaining = 0
  private readonly header = Buffer.alloc(MAX_HEADER)
  private headerFill = 0
  private opcode = 0
  private inMessage = false
  private messageBytes = 0
  // The close frame being read: its mask key and the code bytes seen so far.
  private readonly closeMask = Buffer.alloc(4)
  private closeSeen = 0

  constructor(
    private readonly masked: boolean,
    private readonly maxMessageBytes: number,
  ) {}

  /** Between frames: nothing of a next frame has been let through (an unfinished header is held, not sent). */
  get atBoundary(): boolean {
    return this.remaining === 0
  }

  /** The chunk ended inside a header. */
  get inHeader(): boolean {
    return this.headerFill > 0
  }

  /** Reads `chunk` from `pos`; returns where it stopped, and why in `stop`. */
  scan(chunk: Buffer, pos: number, untilBoundary: boolean): number {
    const len = chunk.length
    if (this.headerFill > 0) this.headerStart = 0
    while (pos < len) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, len - pos)
        if (this.opcode === 0x8 && this.closeSeen < 2) this.readCloseCode(chunk, pos, n)
        pos += n
        this.remaining -= n
        if (this.remaining > 0) break
        if (this.frameEnded(untilBoundary)) return pos
        continue
      }
      let ok: boolean
      const need = this.headerFill === 0 && len - pos >= 2 ? headerLength(chunk[pos + 1]!) : 0
      if (this.headerFill === 0) this.headerStart = pos
      if (need > 0 && len - pos >= need) {
        // The usual case: the whole header in this chunk, read in place.
        ok = this.begin(chunk, pos, need)
        pos += need
      } else {
        // Cut by the chunk's end: gathered (at most 14 bytes) until whole.
        pos = this.collect(chunk, pos)
        if (this.headerFill > 0) break
        ok = this.begin(this.header, 0, headerLength(this.header[1]!))
      }
      if (!ok) {
        this.stop = Stop.Violation
        return pos
      }
      if (this.remaining === 0 && this.frameEnded(untilBoundary)) return pos
    }
    this.stop = Stop.End
    return len
  }

  /** Copies header bytes into `header` until it is whole (then `headerFill` is 0 again). */
  private collect(chunk: Buffer, pos: number): number {
    const len = chunk.length
    while (pos < len) {
      this.header[this.headerFill++] = chunk[pos++]!
      if (this.headerFill >= 2 && this.headerFill === headerLength(this.header[1]!)) {
        this.headerFill = 0
        return pos
      }
    }
    return pos
  }

  /** Takes in the header at buf[off, off+need): false when it breaks the protocol or the size cap. */
  private begin(buf: Buffer, off: number, need: number): boolean {
    const b0 = buf[off]!
    const b1 = buf[off + 1]!
    const opcode = b0 & 0x0f
    const fin = (b0 & 0x80) !== 0
    let length = b1 & 0x7f
    let high = 0
    if (length === 126) length = buf.readUInt16BE(off + 2)
    else if (length === 127) {
      high = buf.readUInt32BE(off + 2)
      length = high * 0x1_0000_0000 + buf.readUInt32BE(off + 6)
    }
    this.opcode = opcode
    this.remaining = length
    if (opcode === 0x8) {
      this.closeSeen = 0
      this.closeCode = 1005
      if (b1 & 0x80) buf.copy(this.closeMask, 0, off + need - 4, off + need)
      else this.closeMask.fill(0)
    }
    if (this.lenient) return true
    if (high > MAX_HIGH_WORD) return this.refuse(1009)
    // No extension is ever negotiated (we offer none), so every RSV bit must be 0.
    if (b0 & 0x70) return this.refuse(1002)
    if (((b1 & 0x80) !== 0) !== this.masked) return this.refuse(1002)
    if (opcode >= 0x8) {
      if (!fin || length > 125 || opcode > 0xa || (opcode === 0x8 && length === 1)) return this.refuse(1002)
      return true
    }
    if (opcode === 0x0 ? !this.inMessage : opcode > 0x2 || this.inMessage) return this.refuse(1002)
    // A message's size is the sum of its fragments.
    this.messageBytes += length
    if (this.messageBytes > this.maxMessageBytes) return this.refuse(1009)
    this.inMessage = !fin
    if (fin) this.messageBytes = 0
    return true
  }

  private refuse(code: number): false {
    this.violation = code
    return false
  }

  private readCloseCode(chunk: Buffer, pos: number, n: number) {
    for (let i = 0; i < n && this.closeSeen < 2; i++, this.closeSeen++) {
      const byte = chunk[pos + i]! ^ this.closeMask[this.closeSeen]!
      this.closeCode = this.closeSeen === 0 ? byte << 8 : (this.closeCode & 0xff00) | byte
    }
  }

  /** A frame just ended: true (with `stop` set) when the caller wants to know now. */
  private frameEnded(untilBoundary: boolean): boolean {
    if (this.opcode === 0x8) {
      if (this.closeSeen < 2) this.closeCode = 1005
      this.stop = Stop.Close
      return true
    }
    if (!untilBoundary) return false
    this.stop = Stop.Boundary
    return true
  }
}

/** A header's length in bytes, from its second byte (mask bit and 7-bit length). */
function headerLength(b1: number): number {
  const l7 = b1 & 0x7f
  return 2 + (b1 & 0x80 ? 4 : 0) + (l7 === 126 ? 2 : l7 === 127 ? 8 : 0)
}

/**
 * A close frame (code null: one without a code). `masked` for Zenzefi's side: a
 * client's frames are masked, with a fresh random key each (RFC 6455 §5.3).
 */
export function closeFrameBytes(code: number | null, reason: string, masked: boolean): Buffer {
  const reasonBytes = code === null ? 0 : Math.min(Buffer.byteLength(reason), 123)
  const payloadLength = code === null ? 0 : 2 + reasonBytes
  const head = masked ? 6 : 2
  const frame = Buffer.alloc(head + payloadLength)
  frame[0] = 0x88
  frame[1] = (masked ? 0x80 : 0) | payloadLength
  if (code !== null) {
    frame.writeUInt16BE(code, head)
    frame.write(reason, head + 2, reasonBytes, 'utf8')
  }
  if (masked) {
    randomFillSync(frame, 2, 4)
    for (let i = 0; i < payloadLength; i++) frame[head + i] = frame[head + i]! ^ frame[2 + (i & 3)]!
  }
  return frame
}
