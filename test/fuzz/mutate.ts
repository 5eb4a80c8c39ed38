/**
 * Byte-level mutations of whole frames, as libFuzzer's default mutators do (bit flips, interesting
 * integers, inserts, deletes, duplicates, cross-overs with other corpus entries). The API key and
 * version are left alone most of the time so that a mutant stays a request the broker parses, and
 * the size prefix is kept true most of the time so that mutants reach the codecs, not only the
 * frame decoder.
 */
import type { Rng } from './rng.js';

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0x40];
const INTERESTING_16 = [0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, -0x8000, 0x100, 2];
const INTERESTING_32 = [0, 1, -1, 0x7fffffff, -0x80000000, 0xffff, 0x10000, 1 << 24, 100, -2];

/** First payload byte a mutation may touch: after size, api key and version (rarely before). */
function start(rng: Rng, frame: Buffer): number {
  return rng.chance(0.05) || frame.length <= 13 ? 4 : 8;
}

function pos(rng: Rng, frame: Buffer, width = 1): number {
  const s = start(rng, frame);
  if (frame.length - width < s) return -1;
  return rng.int(s, frame.length - width);
}

type Mutator = (frame: Buffer, rng: Rng, other: () => Buffer) => Buffer;

const mutators: Mutator[] = [
  // flip one bit
  (f, rng) => {
    const p = pos(rng, f);
    if (p < 0) return f;
    f[p]! ^= 1 << rng.below(8);
    return f;
  },
  // interesting byte
  (f, rng) => {
    const p = pos(rng, f);
    if (p >= 0) f[p] = rng.pick(INTERESTING_8);
    return f;
  },
  // interesting int16 (lengths of strings, counts of compact arrays, error codes)
  (f, rng) => {
    const p = pos(rng, f, 2);
    if (p >= 0) f.writeInt16BE(rng.pick(INTERESTING_16), p);
    return f;
  },
  // interesting int32 (array counts, bytes lengths, partitions, timeouts)
  (f, rng) => {
    const p = pos(rng, f, 4);
    if (p >= 0) f.writeInt32BE(rng.pick(INTERESTING_32) | 0, p);
    return f;
  },
  // random byte
  (f, rng) => {
    const p = pos(rng, f);
    if (p >= 0) f[p] = rng.below(256);
    return f;
  },
  // insert random bytes
  (f, rng) => {
    const p = pos(rng, f) < 0 ? f.length : pos(rng, f);
    return Buffer.concat([f.subarray(0, p), rng.bytes(rng.int(1, 8)), f.subarray(p)]);
  },
  // delete a range
  (f, rng) => {
    const p = pos(rng, f);
    if (p < 0) return f;
    const n = rng.int(1, Math.min(16, f.length - p));
    return Buffer.concat([f.subarray(0, p), f.subarray(p + n)]);
  },
  // duplicate a range (repeated array elements, repeated tagged fields)
  (f, rng) => {
    const p = pos(rng, f);
    if (p < 0) return f;
    const n = rng.int(1, Math.min(32, f.length - p));
    return Buffer.concat([f.subarray(0, p + n), f.subarray(p, p + n), f.subarray(p + n)]);
  },
  // cross-over: overwrite with a piece of another input
  (f, rng, other) => {
    const o = other();
    if (o.length <= 8) return f;
    const from = rng.int(8, o.length - 1);
    const n = rng.int(1, Math.min(64, o.length - from));
    const p = pos(rng, f);
    if (p < 0) return f;
    const out = Buffer.concat([f.subarray(0, p), o.subarray(from, from + n), f.subarray(Math.min(f.length, p + n))]);
    return out;
  },
  // cross-over: this frame's head, another's tail
  (f, rng, other) => {
    const o = other();
    const p = pos(rng, f);
    if (p < 0 || o.length <= 12) return f;
    return Buffer.concat([f.subarray(0, p), o.subarray(rng.int(12, o.length - 1))]);
  },
];

/** 1 to 4 stacked mutations of a copy of frame; the size prefix is fixed up 95% of the time. */
export function mutate(frame: Buffer, rng: Rng, other: () => Buffer): Buffer {
  let f: Buffer = Buffer.from(frame);
  const n = 1 + rng.below(rng.chance(0.5) ? 1 : 4);
  for (let i = 0; i < n; i++) f = rng.pick(mutators)(f, rng, other);
  if (f.length >= 4 && rng.chance(0.95)) f.writeInt32BE(f.length - 4, 0);
  // Keep inputs small: the interesting part of a request is its structure, not its bulk.
  return f.length > 256 * 1024 ? f.subarray(0, 256 * 1024) : f;
}
