// One direction of a spliced WebSocket: the bytes one socket sends, written to the
// other as they came (masked frames stay masked, nothing is re-encoded), with
// backpressure, while a FrameReader follows the frame boundaries. The gateway's own
// close frame goes in only at a boundary; from then on the rest is read and dropped.

import type { Duplex } from 'node:stream'
import { type FrameReader, Stop } from './ws-frames'

/** After the gateway closes a relay (or one side is gone), how long a peer gets to finish before its socket is cut. */
export const FORCE_CLOSE_MS = 2_000

export interface PipeEvents {
  /** A close frame from the source ended (passed on, unless the pipe was cut): its code, 1005 for none. */
  onClose(code: number): void
  /** The source broke the protocol (1002) or sent a message over the cap (1009). Nothing of that frame went out. */
  onViolation(code: number): void
}

export function createPipe(from: Duplex, to: Duplex, reader: FrameReader, events: PipeEvents) {
  /** The start of a header that a chunk ended in: sent once the header is whole and valid. Views, not copies. */
  let held: Buffer[] = []
  /** Our close frame, waiting for the current frame to end. */
  let pending: Buffer | null = null
  /** Nothing more goes out (our close went in, or the source broke the rules, or `to` is gone); what comes is only read. */
  let cut = false
  /** A close frame reached `to`, so no other may follow. */
  let closeSent = false
  let paused = false
  let ended = false

  const put = (bytes: Buffer) => {
    if (!to.writable || bytes.length === 0) return
    if (!to.write(bytes) && !paused) {
      paused = true
      from.pause()
    }
  }
  to.on('drain', () => {
    if (paused) {
      paused = false
      from.resume()
    }
  })
  // No drain will come from a closed socket: read the source on (to see it end), sending nothing.
  to.once('close', () => cutWith(null))

  /** Puts `frame` in now (we are at a boundary) and stops forwarding. */
  const cutWith = (frame: Buffer | null) => {
    held = []
    pending = null
    if (frame && !closeSent) {
      put(frame)
      closeSent = true
    }
    cut = true
    reader.lenient = true
    // What still comes is read only to see the peer's close: never leave the source paused.
    if (paused) {
      paused = false
      from.resume()
    }
  }

  /** After a cut: follow the frames, to report the peer's close, and send nothing. */
  const drain = (chunk: Buffer, pos: number) => {
    while (pos < chunk.length) {
      pos = reader.scan(chunk, pos, false)
      if (reader.stop === Stop.Close) events.onClose(reader.closeCode)
    }
  }

  const onData = (chunk: Buffer) => {
    if (cut) return drain(chunk, 0)
    let pos = 0
    /** Where this chunk's bytes not yet written begin. */
    let sent = 0
    for (let first = true; ; first = false) {
      pos = reader.scan(chunk, pos, pending !== null)
      const stop = reader.stop
      // A header that began in an earlier chunk is settled by this chunk's first stop.
      if (first && held.length > 0) {
        const stillOpen = stop === Stop.End && reader.inHeader && reader.headerStart === 0
        const refused = stop === Stop.Violation && reader.headerStart === 0
        if (stillOpen) return void held.push(chunk)
        if (!refused) for (const part of held) put(part)
        held = []
      }
      if (stop === Stop.End) {
        if (!reader.inHeader) return sent === 0 ? put(chunk) : put(chunk.subarray(sent))
        put(chunk.subarray(sent, reader.headerStart))
        held.push(chunk.subarray(reader.headerStart))
        return
      }
      if (stop === Stop.Violation) {
        put(chunk.subarray(sent, reader.headerStart))
        cutWith(null)
        events.onViolation(reader.violation)
        return drain(chunk, pos)
      }
      put(chunk.subarray(sent, pos))
      sent = pos
      if (stop === Stop.Close) {
        closeSent = true
        // Ours was waiting for this frame to end: the peer's close went instead.
        if (pending) cutWith(null)
        events.onClose(reader.closeCode)
        if (cut) return drain(chunk, pos)
      } else if (stop === Stop.Boundary) {
        cutWith(pending)
        return drain(chunk, pos)
      }
    }
  }

  return {
    /** Starts the flow: bytes that came before (the client's early frames, Zenzefi's first ones), then the socket. */
    start(first: Buffer[]) {
      for (const chunk of first) if (chunk.length > 0) onData(chunk)
      from.on('data', onData)
      if (from.isPaused() && !paused) from.resume()
    },

    /** The gateway's close frame to `to`: now if between frames, else when the current frame ends. Then the rest is dropped. */
    inject(frame: Buffer) {
      // A source gone mid-frame leaves nothing to finish that frame with: no boundary will come.
      if (ended && !cut) return
      if (cut || closeSent || reader.atBoundary) return cutWith(frame)
      pending = frame
    },

    /** The source is gone: `to` gets `frame` (a close, if none went yet and we are between frames), then its end. */
    end(frame: Buffer) {
      if (ended) return
      ended = true
      if (cut || reader.atBoundary) cutWith(frame)
      if (!to.writableEnded && !to.destroyed) to.end()
    },
  }
}
