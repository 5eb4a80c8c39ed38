/**
 * Just enough of the LZ4 frame format (lz4_Frame_format.md) to bound what a frame inflates to before
 * inflating it: the frame descriptor gives the block maximum size (64 KiB .. 4 MiB) and, optionally, the
 * content size; each block header gives the block's stored size, with its high bit set when the block is
 * stored uncompressed. A compressed block never inflates beyond the block maximum size (the decoder refuses
 * it), so the sum over blocks of "block maximum, or the stored size when uncompressed" bounds the output.
 * The bound is exact to within one block for the frames clients write (every block full but the last).
 *
 * Layout: magic 0x184D2204 (LE) | FLG | BD | [content size, 8 bytes LE] | [dict id, 4] | HC |
 * blocks: [size, 4 bytes LE][data][block checksum, 4, if FLG bit 4] ... | end mark 0 | [content checksum, 4].
 * Skippable frames (magic 0x184D2A50..5F, then a 4-byte LE size) are allowed between frames and inflate to
 * nothing. Checksums are verified by the decoder (lz4-napi), not here.
 */

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MIN = 0x184d2a50;
const SKIPPABLE_MAGIC_MAX = 0x184d2a5f;
const BLOCK_UNCOMPRESSED = 0x80000000;

/** Block maximum sizes by the BD byte's bits 6-4 (values 4-7). */
function blockMaxSize(bd: number): number {
  const id = (bd >> 4) & 0x07;
  if (id < 4) throw new Error(`invalid LZ4 block maximum size id ${id}`);
  return 1 << (8 + 2 * id); // 4 → 64 KiB, 5 → 256 KiB, 6 → 1 MiB, 7 → 4 MiB
}

/**
 * Upper bound of the bytes the LZ4 frames in buf inflate to. Throws on a buffer that is not a sequence of
 * well-formed frames (header fields, block sizes within the buffer and the block maximum).
 */
export function lz4FrameOutputBound(buf: Buffer): number {
  let pos = 0;
  let total = 0;
  if (buf.length === 0) throw new Error('empty LZ4 input');
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error('truncated LZ4 frame magic');
    const magic = buf.readUInt32LE(pos);
    if (magic >= SKIPPABLE_MAGIC_MIN && magic <= SKIPPABLE_MAGIC_MAX) {
      if (pos + 8 > buf.length) throw new Error('truncated LZ4 skippable frame');
      pos += 8 + buf.readUInt32LE(pos + 4);
      if (pos > buf.length) throw new Error('truncated LZ4 skippable frame');
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Error(`not an LZ4 frame (magic 0x${magic.toString(16)})`);
    if (pos + 7 > buf.length) throw new Error('truncated LZ4 frame header');
    const flg = buf[pos + 4]!;
    const bd = buf[pos + 5]!;
    if (flg >> 6 !== 1) throw new Error(`unsupported LZ4 frame version ${flg >> 6}`);
    const maxBlock = blockMaxSize(bd);
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSizeFlag = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const dictId = (flg & 0x01) !== 0;
    pos += 6;
    let declared = -1;
    if (contentSizeFlag) {
      if (pos + 8 > buf.length) throw new Error('truncated LZ4 frame content size');
      declared = buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * 2 ** 32;
      pos += 8;
    }
    if (dictId) pos += 4;
    pos += 1; // header checksum
    let frameBound = 0;
    for (;;) {
      if (pos + 4 > buf.length) throw new Error('truncated LZ4 block header');
      const word = buf.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break; // end mark
      const uncompressed = (word & BLOCK_UNCOMPRESSED) !== 0;
      const size = word & ~BLOCK_UNCOMPRESSED;
      if (size > maxBlock) throw new Error(`LZ4 block of ${size} bytes exceeds the frame's block maximum ${maxBlock}`);
      pos += size + (blockChecksum ? 4 : 0);
      if (pos > buf.length) throw new Error('truncated LZ4 block');
      frameBound += uncompressed ? size : maxBlock;
    }
    if (contentChecksum) pos += 4;
    if (pos > buf.length) throw new Error('truncated LZ4 content checksum');
    // A stated content size is not trusted to be smaller than the blocks: only the blocks bound the output.
    if (declared > frameBound) throw new Error(`LZ4 frame states ${declared} bytes but its blocks hold at most ${frameBound}`);
    total += frameBound;
  }
  return total;
}

const PRIME32_1 = 0x9e3779b1;
const PRIME32_3 = 0xc2b2ae3d;
const PRIME32_2 = 0x85ebca77;
const PRIME32_4 = 0x27d4eb2f;
const PRIME32_5 = 0x165667b1;

const rotl32 = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;

/** XXH32 with seed 0 of an input shorter than 16 bytes (an LZ4 frame descriptor is at most 14). */
export function xxh32Short(input: Buffer): number {
  const len = input.length;
  if (len >= 16) throw new RangeError('xxh32Short handles inputs below 16 bytes only');
  let h = (PRIME32_5 + len) >>> 0;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    h = (h + Math.imul(input.readUInt32LE(i), PRIME32_3)) >>> 0;
    h = Math.imul(rotl32(h, 17), PRIME32_4) >>> 0;
  }
  for (; i < len; i++) {
    h = (h + Math.imul(input[i]!, PRIME32_5)) >>> 0;
    h = Math.imul(rotl32(h, 11), PRIME32_1) >>> 0;
  }
  h ^= h >>> 15;
  h = Math.imul(h, PRIME32_2) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, PRIME32_3) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
