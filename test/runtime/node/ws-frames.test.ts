// The splice relay's frame header reader and its close frames: boundaries, message sizes
// and protocol rules found from headers alone, however the bytes are cut into chunks;
// close frames a real `ws` endpoint parses.
import { describe, expect, it } from 'vitest'
import * as ws from 'ws'
import { closeFrameBytes, FrameReader, Stop } from '../../../src/runtime/node/ws-frames'
import { frame } from '../../support/ws-frame'

const closePayload = (code: number, reason = '') => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)])

interface Seen {
  /** Stream offsets at which a boundary was reported (asked for after every frame). */
  boundaries: number[]
  closes: Array<{ at: number; code: number }>
  violation: { at: number; code: number } | null
}

/** Feeds `bytes` in chunks of `size`, asking for every boundary; offsets are over the whole stream. */
function read(bytes: Buffer, size: number, masked = true, max = 1 << 20): Seen {
  const reader = new FrameReader(masked, max)
  const seen: Seen = { boundaries: [], closes: [], violation: null }
  for (let base = 0; base < bytes.length && !seen.violation; base += size) {
    const chunk = bytes.subarray(base, base + size)
    let pos = 0
    while (pos < chunk.length) {
      pos = reader.scan(chunk, pos, true)
      if (reader.stop === Stop.Boundary) seen.boundaries.push(base + pos)
      else if (reader.stop === Stop.Close) {
        seen.boundaries.push(base + pos)
        seen.closes.push({ at: base + pos, code: reader.closeCode })
      } else if (reader.stop === Stop.Violation) {
        // The offending header began at the last boundary; headerStart says so when that is in this chunk (else it is 0).
        const at = seen.boundaries.at(-1) ?? 0
        expect(reader.headerStart).toBe(Math.max(0, at - base))
        seen.violation = { at, code: reader.violation }
        break
      }
    }
  }
  return seen
}

/** Every way of cutting a short stream: one chunk, then chunks of 1, 2, 3, … bytes. */
const cuts = (bytes: Buffer) => [bytes.length, 1, 2, 3, 5, 7, 13]

describe('frame boundaries', () => {
  const frames = [
    frame(0x1, 'hello'),
    frame(0x2, Buffer.alloc(125, 1)),
    frame(0x2, Buffer.alloc(126, 2), { fin: false }),
    frame(0x9, 'ping'),
    frame(0x0, Buffer.alloc(70_000, 3)),
    frame(0xa, ''),
    frame(0x1, ''),
    frame(0x8, closePayload(4001, 'bye')),
  ]
  const stream = Buffer.concat(frames)
  const ends = frames.map((_, i) => frames.slice(0, i + 1).reduce((n, f) => n + f.length, 0))

  it.each(cuts(stream))('are found the same whatever the chunks (%i bytes each), with the close code read', (size) => {
    const seen = read(stream, size)
    expect(seen.violation).toBeNull()
    expect(seen.boundaries).toEqual(ends)
    expect(seen.closes).toEqual([{ at: stream.length, code: 4001 }])
  })

  it('a close without a code is 1005; an unmasked direction reads the code in the clear', () => {
    expect(read(frame(0x8, ''), 1).closes).toEqual([{ at: 6, code: 1005 }])
    expect(read(frame(0x8, closePayload(1000), { mask: null }), 1, false).closes).toEqual([{ at: 4, code: 1000 }])
  })

  it('a chunk that ends inside a header says where that header began, so nothing of it is sent early', () => {
    const two = Buffer.concat([frame(0x1, 'ab'), frame(0x1, 'cd')])
    const reader = new FrameReader(true, 1 << 20)
    // The first frame and the first 3 bytes of the second header.
    const cut = frame(0x1, 'ab').length + 3
    expect(reader.scan(two.subarray(0, cut), 0, false)).toBe(cut)
    expect(reader.stop).toBe(Stop.End)
    expect(reader.inHeader).toBe(true)
    expect(reader.headerStart).toBe(frame(0x1, 'ab').length)
    expect(reader.atBoundary).toBe(true)
    reader.scan(two.subarray(cut), 0, false)
    expect(reader.inHeader).toBe(false)
  })
})

describe('what the relay refuses', () => {
  const none = Buffer.alloc(0)
  it.each([
    ['an unmasked frame from the client', none, frame(0x1, 'x', { mask: null }), true, 1002],
    ['a masked frame from the server', none, frame(0x1, 'x'), false, 1002],
    ['RSV1 set (no extension was negotiated)', none, frame(0x1, 'x', { rsv: 4 }), true, 1002],
    ['RSV3 set', none, frame(0x2, 'x', { rsv: 1 }), true, 1002],
    ['reserved data opcode 3', none, frame(0x3, 'x'), true, 1002],
    ['reserved control opcode 11', none, frame(0xb, 'x'), true, 1002],
    ['a ping over 125 bytes', none, frame(0x9, Buffer.alloc(126)), true, 1002],
    ['a fragmented ping', none, frame(0x9, 'x', { fin: false }), true, 1002],
    ['a close with a 1-byte body', none, frame(0x8, 'x'), true, 1002],
    ['a continuation with no message begun', none, frame(0x0, 'x'), true, 1002],
    ['a new message inside a fragmented one', frame(0x1, 'a', { fin: false }), frame(0x2, 'b'), true, 1002],
  ] as const)('%s → its code, at the start of the offending frame', (_name, before, bad, masked, code) => {
    const ok = masked ? frame(0x1, 'fine') : frame(0x1, 'fine', { mask: null })
    const bytes = Buffer.concat([ok, before, bad])
    for (const size of cuts(bytes)) {
      expect(read(bytes, size, masked).violation).toEqual({ at: ok.length + before.length, code })
    }
  })

  it('a message over the cap → 1009, counted over its fragments, control frames between them not counted', () => {
    const max = 1000
    const within = Buffer.concat([frame(0x2, Buffer.alloc(600), { fin: false }), frame(0x9, Buffer.alloc(100)), frame(0x0, Buffer.alloc(400))])
    expect(read(within, 7, true, max).violation).toBeNull()
    const over = Buffer.concat([frame(0x2, Buffer.alloc(600), { fin: false }), frame(0x0, Buffer.alloc(401))])
    expect(read(over, 7, true, max).violation).toEqual({ at: frame(0x2, Buffer.alloc(600)).length, code: 1009 })
    // The count starts again with each message.
    const twice = Buffer.concat([frame(0x2, Buffer.alloc(1000)), frame(0x1, Buffer.alloc(1000))])
    expect(read(twice, 64, true, max).violation).toBeNull()
  })

  it('a 64-bit length past 2^53 → 1009, from the header alone', () => {
    const head = Buffer.from([0x82, 0xff, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])
    expect(read(head, 3).violation).toEqual({ at: 0, code: 1009 })
  })

  it('once lenient (after a cut), nothing is refused and close frames are still found', () => {
    const reader = new FrameReader(true, 10)
    reader.lenient = true
    const bytes = Buffer.concat([frame(0x2, Buffer.alloc(50), { mask: null, rsv: 4 }), frame(0x8, closePayload(1000))])
    let pos = 0
    const stops: number[] = []
    while (pos < bytes.length) {
      pos = reader.scan(bytes, pos, false)
      stops.push(reader.stop)
    }
    expect(stops).toEqual([Stop.Close])
    expect(reader.closeCode).toBe(1000)
  })
})

/** `ws`'s own frame parser (shipped without typings): what a real endpoint makes of our bytes. */
const Receiver = (ws as unknown as { Receiver: new (o: { isServer: boolean }) => NodeJS.WritableStream & NodeJS.EventEmitter }).Receiver

describe('close frames the gateway writes', () => {
  /** What a `ws` endpoint makes of `bytes`: the close it concluded, or its error. */
  function parsedByWs(bytes: Buffer, isServer: boolean) {
    return new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const receiver = new Receiver({ isServer })
      receiver.on('conclude', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
      receiver.on('error', reject)
      receiver.write(bytes)
    })
  }

  it('to the client: unmasked, with code and reason', async () => {
    const bytes = closeFrameBytes(1008, 'Token revoked', false)
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x88, 15]))
    expect(await parsedByWs(bytes, false)).toEqual({ code: 1008, reason: 'Token revoked' })
  })

  it('to Zenzefi: masked, with a fresh random key each time', async () => {
    const a = closeFrameBytes(1001, 'Server shutting down', true)
    const b = closeFrameBytes(1001, 'Server shutting down', true)
    expect(a[1]).toBe(0x80 | 22)
    expect(a.subarray(2, 6).equals(b.subarray(2, 6))).toBe(false)
    expect(await parsedByWs(a, true)).toEqual({ code: 1001, reason: 'Server shutting down' })
  })

  it('without a code: an empty close, which the far end reports as 1005', async () => {
    expect(closeFrameBytes(null, '', false)).toEqual(Buffer.from([0x88, 0x00]))
    expect(await parsedByWs(closeFrameBytes(null, '', true), true)).toEqual({ code: 1005, reason: '' })
  })
})
