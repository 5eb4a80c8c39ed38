/**
 * Kafka wire-protocol primitive types: a cursor-based Reader and Writer over one Buffer,
 * plus size helpers used by the generated codecs' size pass.
 *
 * Conventions (see docs/protocol.md):
 * - int64 values are JavaScript numbers. Offsets, timestamps and producer ids in practice stay far
 *   below 2^53; keeping them as numbers avoids a BigInt allocation per field on the hot paths.
 * - uuid values are 16-byte Buffers; use uuidToString/uuidFromString for Kafka's base64url form.
 * - records fields are Buffers holding the raw record-batch bytes, exactly as on the wire and on disk.
 */

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const TWO_32 = 4294967296;

/**
 * The longest string the protocol carries, in UTF-8 bytes, for both encodings: an int16 length caps the
 * classic one, and Kafka's generated code holds compact strings to the same limit (it refuses a longer one
 * when reading, "string field ... had invalid length", and when writing, "field is too long to be serialized").
 */
export const MAX_STRING_BYTES = 0x7fff;

export const ZERO_UUID: Buffer = Buffer.alloc(16);

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    offset = 0,
    readonly end = buf.length,
  ) {
    this.pos = offset;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw new ProtocolError(`truncated: need ${n} bytes at ${this.pos}, have ${this.end - this.pos}`);
    }
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): number {
    this.need(8);
    const hi = this.buf.readInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }
  float64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  uuid(): Buffer {
    this.need(16);
    const v = this.buf.subarray(this.pos, this.pos + 16);
    this.pos += 16;
    return v;
  }
  /** Unsigned LEB128 varint (protocol lengths, tag numbers). */
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      if (shift < 28) result |= (b & 0x7f) << shift;
      else result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 35) throw new ProtocolError('uvarint too long');
    }
    return result;
  }
  /** Zig-zag signed varint (record fields). */
  varint(): number {
    const u = this.uvarint();
    return (u >>> 1) ^ -(u & 1);
  }
  /** Zig-zag signed varlong, as a number. */
  varlong(): number {
    let result = 0;
    let mult = 1;
    for (let i = 0; ; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) break;
      mult *= 128;
      if (i > 9) throw new ProtocolError('varlong too long');
    }
    // zig-zag decode without 32-bit truncation
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  }
  rawBytes(n: number): Buffer {
    if (n < 0) throw new ProtocolError(`negative length ${n}`);
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  string(): string | null {
    const n = this.int16(); // at most MAX_STRING_BYTES by construction
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  compactString(): string | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    if (n > MAX_STRING_BYTES) throw new ProtocolError(`string of ${n} bytes is longer than the protocol allows (${MAX_STRING_BYTES})`);
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  bytes(): Buffer | null {
    const n = this.int32();
    if (n < 0) return null;
    return this.rawBytes(n);
  }
  compactBytes(): Buffer | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    return this.rawBytes(n);
  }
  /** Array length (int32), -1 = null. Guards against absurd lengths from garbage input. */
  arrayLength(): number {
    const n = this.int32();
    if (n > this.remaining) throw new ProtocolError(`array length ${n} exceeds remaining bytes`);
    return n;
  }
  compactArrayLength(): number {
    const n = this.uvarint() - 1;
    if (n > this.remaining) throw new ProtocolError(`array length ${n} exceeds remaining bytes`);
    return n;
  }
  /** Skips a tagged-field section; returns nothing (unknown tags are ignored as the spec requires). */
  skipTaggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      const size = this.uvarint();
      this.rawBytes(size);
    }
  }
}

export class Writer {
  pos: number;
  constructor(
    readonly buf: Buffer,
    offset = 0,
  ) {
    this.pos = offset;
  }
  static alloc(size: number): Writer {
    return new Writer(Buffer.allocUnsafe(size));
  }

  int8(v: number): void {
    this.buf.writeInt8(v, this.pos++);
  }
  bool(v: boolean): void {
    this.buf[this.pos++] = v ? 1 : 0;
  }
  int16(v: number): void {
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }
  uint16(v: number): void {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  int32(v: number): void {
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }
  uint32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  int64(v: number): void {
    writeInt64(this.buf, v, this.pos);
    this.pos += 8;
  }
  float64(v: number): void {
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  uuid(v: Buffer): void {
    if (v.length !== 16) throw new ProtocolError('uuid must be 16 bytes');
    v.copy(this.buf, this.pos);
    this.pos += 16;
  }
  uvarint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  varint(v: number): void {
    this.uvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }
  varlong(v: number): void {
    this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  rawBytes(v: Buffer): void {
    v.copy(this.buf, this.pos);
    this.pos += v.length;
  }
  string(v: string | null): void {
    if (v === null) {
      this.int16(-1);
      return;
    }
    v = fitString(v);
    const n = this.buf.write(v, this.pos + 2, 'utf8');
    this.buf.writeInt16BE(n, this.pos);
    this.pos += 2 + n;
  }
  compactString(v: string | null): void {
    if (v === null) {
      this.uvarint(0);
      return;
    }
    v = fitString(v);
    const n = Buffer.byteLength(v, 'utf8');
    this.uvarint(n + 1);
    this.pos += this.buf.write(v, this.pos, 'utf8');
  }
  bytes(v: Buffer | null): void {
    if (v === null) {
      this.int32(-1);
      return;
    }
    this.int32(v.length);
    this.rawBytes(v);
  }
  compactBytes(v: Buffer | null): void {
    if (v === null) {
      this.uvarint(0);
      return;
    }
    this.uvarint(v.length + 1);
    this.rawBytes(v);
  }
  /** Returns the bytes written so far. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export function writeInt64(buf: Buffer, v: number, pos: number): void {
  const hi = Math.floor(v / TWO_32);
  const lo = v - hi * TWO_32;
  buf.writeInt32BE(hi | 0, pos);
  buf.writeUInt32BE(lo >>> 0, pos + 4);
}

export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

export function sizeOfUvarint(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}
export function sizeOfVarint(v: number): number {
  return sizeOfUvarint(((v << 1) ^ (v >> 31)) >>> 0);
}
export function sizeOfVarlong(v: number): number {
  return sizeOfUvarint(v >= 0 ? v * 2 : -v * 2 - 1);
}
/**
 * The string as the writers put it on the wire: unchanged when its UTF-8 form fits MAX_STRING_BYTES (always
 * true for short strings, checked without encoding), otherwise cut at a character boundary to fit. This is the
 * one place where every string the broker writes (error messages that quote client input, names decoded from
 * invalid UTF-8, which grow threefold as U+FFFD) is made to fit its field; the size pass and the write pass both
 * call it, so they agree.
 */
export function fitString(v: string): string {
  // A UTF-16 code unit never takes more than 3 bytes of UTF-8 (a surrogate pair: 4 bytes for 2 units).
  if (v.length * 3 <= MAX_STRING_BYTES) return v;
  if (Buffer.byteLength(v, 'utf8') <= MAX_STRING_BYTES) return v;
  const bytes = Buffer.from(v, 'utf8');
  let end = MAX_STRING_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // do not split a multi-byte character
  return bytes.toString('utf8', 0, end);
}

export function sizeOfString(v: string | null): number {
  return v === null ? 2 : 2 + Buffer.byteLength(fitString(v), 'utf8');
}
export function sizeOfCompactString(v: string | null): number {
  if (v === null) return 1;
  const n = Buffer.byteLength(fitString(v), 'utf8');
  return sizeOfUvarint(n + 1) + n;
}
export function sizeOfBytes(v: Buffer | null): number {
  if (v === null) return 4;
  if (v.length >= spliceMinBytes) splicedBytes += v.length;
  return 4 + v.length;
}
export function sizeOfCompactBytes(v: Buffer | null): number {
  if (v === null) return 1;
  if (v.length >= spliceMinBytes) splicedBytes += v.length;
  return sizeOfUvarint(v.length + 1) + v.length;
}

// ---------------------------------------------------------------------------------------------
// Splicing: large bytes fields (the records of a Fetch response) are not copied into the encoded frame; the frame
// becomes a list of buffers [bytes before, the field's own buffer, bytes after, ...] for one writev. The size
// pass counts the bytes such fields take (measureSpliced), so the frame's own buffer holds only the rest.

/** During measureSpliced: bytes fields at least this long are counted into splicedBytes. */
let spliceMinBytes = Infinity;
let splicedBytes = 0;

/** Runs a size pass, and tells how many of the bytes it counted are in bytes fields of at least `minBytes`. */
export function measureSpliced(minBytes: number, sizePass: () => number): { size: number; spliced: number } {
  spliceMinBytes = minBytes;
  splicedBytes = 0;
  try {
    const size = sizePass();
    return { size, spliced: splicedBytes };
  } finally {
    spliceMinBytes = Infinity;
    splicedBytes = 0;
  }
}

/**
 * A Writer whose bytes fields of at least `minBytes` are referenced, not copied: chunks() returns the frame as
 * buffers in order. Its own buffer must be sized for everything else (measureSpliced's size − spliced).
 */
export class SplicingWriter extends Writer {
  private readonly parts: Buffer[] = [];
  private chunkStart = 0;

  constructor(
    buf: Buffer,
    private readonly minBytes: number,
  ) {
    super(buf, 0);
  }

  override rawBytes(v: Buffer): void {
    if (v.length < this.minBytes) {
      super.rawBytes(v);
      return;
    }
    if (this.pos > this.chunkStart) this.parts.push(this.buf.subarray(this.chunkStart, this.pos));
    this.parts.push(v);
    this.chunkStart = this.pos;
  }

  /** The frame: own bytes and spliced fields, in order. */
  chunks(): Buffer[] {
    const out = [...this.parts];
    if (this.pos > this.chunkStart) out.push(this.buf.subarray(this.chunkStart, this.pos));
    return out;
  }
}

/** Kafka's Uuid string form: URL-safe base64 without padding of the 16 bytes. */
export function uuidToString(u: Buffer): string {
  return u.toString('base64url');
}
export function uuidFromString(s: string): Buffer {
  const b = Buffer.from(s, 'base64url');
  if (b.length !== 16) throw new ProtocolError(`invalid uuid ${s}`);
  return b;
}
