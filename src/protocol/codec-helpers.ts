/** Small helpers shared by the generated codecs (src/protocol/generated). */
import { Reader, Writer, sizeOfUvarint } from './primitives.js';

export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** Reads an array (int32 length, or compact uvarint length+1 when flexible); null for length -1. */
export function readArray<T>(r: Reader, flexible: boolean, readElement: () => T): T[] | null {
  const n = flexible ? r.compactArrayLength() : r.arrayLength();
  if (n < 0) return null;
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = readElement();
  return out;
}

export function sizeArray<T>(arr: readonly T[] | null | undefined, flexible: boolean, sizeElement: (e: T) => number): number {
  if (arr == null) return flexible ? 1 : 4;
  let n = flexible ? sizeOfUvarint(arr.length + 1) : 4;
  for (let i = 0; i < arr.length; i++) n += sizeElement(arr[i]!);
  return n;
}

/** Writes an array; undefined is written as empty, null as the null array. */
export function writeArray<T>(w: Writer, arr: readonly T[] | null | undefined, flexible: boolean, writeElement: (e: T) => void): void {
  if (arr === null) {
    if (flexible) w.uvarint(0);
    else w.int32(-1);
    return;
  }
  const items = arr ?? [];
  if (flexible) w.uvarint(items.length + 1);
  else w.int32(items.length);
  for (let i = 0; i < items.length; i++) writeElement(items[i]!);
}

/** True when a tagged field's value equals its default, so it is left out of the tagged section. */
export function isDefault(value: unknown, dflt: unknown): boolean {
  if (value === dflt) return true;
  if (value === null || dflt === null || value === undefined) return value == dflt;
  if (Buffer.isBuffer(value)) return Buffer.isBuffer(dflt) && value.equals(dflt);
  if (Array.isArray(value)) return Array.isArray(dflt) && value.length === 0 && dflt.length === 0;
  if (typeof value === 'object' && typeof dflt === 'object') {
    const d = dflt as Record<string, unknown>;
    const v = value as Record<string, unknown>;
    for (const k of Object.keys(d)) {
      if (k in v && !isDefault(v[k], d[k])) return false;
    }
    return true;
  }
  return false;
}
