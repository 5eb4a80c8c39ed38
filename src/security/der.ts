/**
 * A minimal DER reader: enough of ASN.1 to read a certificate's subject name (the mTLS principal, which must be
 * Java's RFC 2253 form of it) and the certificates inside a PKCS#12 truststore (which Node cannot load as trust
 * anchors). Every read is bounds-checked; malformed input throws a DerError, never reads past the buffer.
 */

export class DerError extends Error {
  override readonly name = 'DerError';
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV: its tag byte, its content, and the whole encoding (tag, length and content). */
export interface DerNode {
  readonly tag: number;
  readonly content: Buffer;
  readonly encoded: Buffer;
}

/** Reads the TLV at `pos`; returns it and the position after it. */
export function readNode(buf: Buffer, pos = 0): { node: DerNode; next: number } {
  if (pos + 2 > buf.length) throw new DerError('truncated DER: no room for a tag and a length');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('DER tags above 30 are not supported');
  let len = buf[pos + 1]!;
  let offset = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported DER length of ${n} bytes`);
    if (offset + n > buf.length) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + i]!;
    offset += n;
  }
  if (offset + len > buf.length) throw new DerError(`truncated DER: ${len} content bytes announced, ${buf.length - offset} left`);
  return { node: { tag, content: buf.subarray(offset, offset + len), encoded: buf.subarray(pos, offset + len) }, next: offset + len };
}

/** The one TLV that makes up `buf` (trailing bytes are an error). */
export function parseDer(buf: Buffer): DerNode {
  const { node, next } = readNode(buf, 0);
  if (next !== buf.length) throw new DerError(`${buf.length - next} bytes after the DER value`);
  return node;
}

/** The TLVs inside a constructed node (SEQUENCE, SET, explicit tag). */
export function children(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let pos = 0;
  while (pos < node.content.length) {
    const { node: child, next } = readNode(node.content, pos);
    out.push(child);
    pos = next;
  }
  return out;
}

/** The node, checked to have `tag`. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined) throw new DerError(`${what}: missing`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** An OBJECT IDENTIFIER in dotted form. */
export function oidString(node: DerNode): string {
  expectTag(node, Tag.OID, 'object identifier');
  const c = node.content;
  if (c.length === 0) throw new DerError('empty object identifier');
  const parts: number[] = [];
  let value = 0;
  for (let i = 0; i < c.length; i++) {
    value = value * 128 + (c[i]! & 0x7f);
    if ((c[i]! & 0x80) === 0) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** A non-negative INTEGER that fits a JavaScript number. */
export function integerValue(node: DerNode): number {
  expectTag(node, Tag.INTEGER, 'integer');
  let v = 0;
  for (const b of node.content) v = v * 256 + b;
  if (!Number.isSafeInteger(v)) throw new DerError('integer too large');
  return v;
}

/** The text of a directory string (UTF8, Printable, IA5, T61 as Latin-1, BMP, Universal), or null for other types. */
export function directoryString(node: DerNode): string | null {
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return node.content.toString('utf8');
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
      return node.content.toString('ascii');
    case Tag.T61_STRING:
      return node.content.toString('latin1');
    case Tag.BMP_STRING: {
      const swapped = Buffer.from(node.content);
      if (swapped.length % 2 !== 0) throw new DerError('odd BMPString length');
      return swapped.swap16().toString('utf16le');
    }
    case Tag.UNIVERSAL_STRING: {
      if (node.content.length % 4 !== 0) throw new DerError('bad UniversalString length');
      let s = '';
      for (let i = 0; i < node.content.length; i += 4) s += String.fromCodePoint(node.content.readUInt32BE(i));
      return s;
    }
    default:
      return null;
  }
}
