/**
 * CRC-32C (Castagnoli), as used by record batch v2 over bytes [ATTRIBUTES, end).
 * Thin wrapper over the native @node-rs/crc32 implementation; ranges are passed as subarray views
 * so nothing is copied.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** Unsigned CRC-32C of buf[start, end). */
export function crc32c(buf: Buffer, start = 0, end: number = buf.length): number {
  const view = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
  return nativeCrc32c(view) >>> 0;
}
