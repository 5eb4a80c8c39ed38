/**
 * The broker's request framing (src/server/frame-decoder.ts), in both of its modes: chunks it may keep (TLS
 * sockets, which hand out a fresh buffer per read) and chunks it only borrows (plaintext sockets read every
 * connection into one shared buffer, overwritten by the next read).
 */
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameTooLargeError } from '../../src/server/frame-decoder.js';

const frame = (payload: Buffer): Buffer => {
  const head = Buffer.alloc(4);
  head.writeInt32BE(payload.length);
  return Buffer.concat([head, payload]);
};

const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(70_000, 7), Buffer.alloc(300_000, 9)];
const stream = Buffer.concat(payloads.map(frame));

/** Feeds `data` in pieces of `sizes` (cycled) through one reused buffer that is scribbled over after every call. */
function feedBorrowed(d: FrameDecoder, data: Buffer, sizes: number[]): Buffer[] {
  const shared = Buffer.alloc(Math.max(...sizes));
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    data.copy(shared, 0, at, at + n);
    out.push(...d.pushBorrowed(shared.subarray(0, n)));
    shared.fill(0xee); // the next socket read overwrites the buffer: nothing decoded may still point into it
    at += n;
  }
  return out;
}

describe('server FrameDecoder', () => {
  it('pushBorrowed: decodes frames read into one reused buffer, whatever the read sizes, and keeps no reference to it', () => {
    for (const sizes of [[stream.length], [1], [3], [4], [5], [65_536], [262_144], [7, 70_001, 2, 131_072]]) {
      const d = new FrameDecoder(1 << 20);
      const out = feedBorrowed(d, stream, sizes);
      expect(out.length, `reads of ${sizes.join(',')} bytes`).toBe(payloads.length);
      expect(out.every((b, i) => b.equals(payloads[i]!)), `reads of ${sizes.join(',')} bytes`).toBe(true);
      expect(d.pendingBytes).toBe(0);
    }
  });

  it('pushBorrowed: a frame cut anywhere, the size prefix included, comes out whole once its last byte arrives', () => {
    const two = Buffer.concat([frame(Buffer.from('first')), frame(Buffer.from('second'))]);
    for (let cut = 1; cut < two.length; cut++) {
      const d = new FrameDecoder(1024);
      const shared = Buffer.alloc(two.length);
      two.copy(shared, 0, 0, cut);
      const before = d.pushBorrowed(shared.subarray(0, cut));
      shared.fill(0);
      two.copy(shared, 0, cut);
      const after = d.pushBorrowed(shared.subarray(0, two.length - cut));
      shared.fill(0);
      expect([...before, ...after].map(String), `cut at ${cut}`).toEqual(['first', 'second']);
      expect(d.pendingBytes).toBe(0);
    }
  });

  it('pushBorrowed: counts the bytes of an incomplete frame as pending', () => {
    const d = new FrameDecoder(1024);
    expect(d.pushBorrowed(frame(Buffer.from('abcdef')).subarray(0, 7))).toEqual([]);
    expect(d.pendingBytes).toBe(7);
  });

  it('pushBorrowed: refuses a frame larger than the limit, or of a negative size, naming the setting', () => {
    const d = new FrameDecoder(100);
    d.setLimit(100, 'socket.request.max.bytes');
    const big = Buffer.alloc(4);
    big.writeInt32BE(101);
    expect(() => d.pushBorrowed(big)).toThrow(FrameTooLargeError);
    expect(() => new FrameDecoder(100).pushBorrowed(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/socket.request.max.bytes/);
  });

  it('push: decodes the same stream from chunks it may keep, split anywhere', () => {
    for (let cut = 0; cut <= stream.length; cut += cut < 40 ? 1 : 9_973) {
      const d = new FrameDecoder(1 << 20);
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(out.length).toBe(payloads.length);
      expect(out.every((b, i) => b.equals(payloads[i]!))).toBe(true);
    }
  });
});
