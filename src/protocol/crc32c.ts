/**
 * CRC-32C (Castagnoli), as used by record batch v2 over bytes [ATTRIBUTES, end).
 * Thin wrapper over the native @node-rs/crc32 implementation; ranges are passed as subarray views
 * so nothing is copied. The addon is loaded on the first checksum, so a process that never computes one (the
 * CLI's admin commands) does not load it.
 */
import { createRequire } from 'node:module';
import type * as Crc32Module from '@node-rs/crc32';

let native: typeof Crc32Module.crc32c | undefined;

function load(): typeof Crc32Module.crc32c {
  native = (createRequire(import.meta.url)('@node-rs/crc32') as typeof Crc32Module).crc32c;
  return native;
}

/** Unsigned CRC-32C of buf[start, end). */
export function crc32c(buf: Buffer, start = 0, end: number = buf.length): number {
  const view = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
  return (native ?? load())(view) >>> 0;
}
