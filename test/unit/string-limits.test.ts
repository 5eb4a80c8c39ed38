/**
 * Strings the broker writes always fit their field (issue 8, item 1): the writers cut a string at a character
 * boundary to MAX_STRING_BYTES (the int16 length of a classic string; Kafka holds compact strings to the same
 * limit), the size pass agrees with the write pass, and the reader refuses a longer compact string as Kafka's
 * generated code does. A name echoed back came in with the same encoding (checked against the specs below), but
 * a name decoded from invalid UTF-8 grows threefold when written back, so the limit is needed for names too.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MAX_STRING_BYTES,
  ProtocolError,
  Reader,
  Writer,
  fitString,
  sizeOfCompactString,
  sizeOfString,
} from '../../src/protocol/primitives.js';
import { SPEC_DIR, loadSpec, type SpecField } from '../helpers/kafka-specs.js';

function writeBoth(s: string | null): { classic: Buffer; compact: Buffer } {
  const classic = Writer.alloc(sizeOfString(s));
  classic.string(s);
  expect(classic.pos, 'classic: size pass = write pass').toBe(classic.buf.length);
  const compact = Writer.alloc(sizeOfCompactString(s));
  compact.compactString(s);
  expect(compact.pos, 'compact: size pass = write pass').toBe(compact.buf.length);
  return { classic: classic.buf, compact: compact.buf };
}

describe('fitString and the string writers', () => {
  it('leave a string that fits unchanged, in both encodings', () => {
    for (const s of ['', 'topic', 'é'.repeat(1000), 'x'.repeat(MAX_STRING_BYTES), '€'.repeat(Math.floor(MAX_STRING_BYTES / 3))]) {
      expect(fitString(s)).toBe(s);
      const { classic, compact } = writeBoth(s);
      expect(new Reader(classic).string()).toBe(s);
      expect(new Reader(compact).compactString()).toBe(s);
    }
    const { classic, compact } = writeBoth(null);
    expect(new Reader(classic).string()).toBeNull();
    expect(new Reader(compact).compactString()).toBeNull();
  });

  it('cut a longer ASCII string to exactly MAX_STRING_BYTES', () => {
    const s = 'Topic name is illegal: ' + 'x'.repeat(40_000);
    const { classic, compact } = writeBoth(s);
    const back = new Reader(classic).string()!;
    expect(Buffer.byteLength(back)).toBe(MAX_STRING_BYTES);
    expect(s.startsWith(back)).toBe(true);
    expect(new Reader(compact).compactString()).toBe(back);
  });

  it('never split a multi-byte character or a surrogate pair', () => {
    for (const unit of ['€', 'é', '😀', 'a€😀']) {
      const s = unit.repeat(20_000);
      const fitted = fitString(s);
      expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(MAX_STRING_BYTES);
      expect(Buffer.byteLength(fitted)).toBeGreaterThan(MAX_STRING_BYTES - 4);
      expect(fitted).not.toContain('\ufffd');
      expect(s.startsWith(fitted)).toBe(true);
      const { classic } = writeBoth(s);
      expect(new Reader(classic).string()).toBe(fitted);
    }
  });

  it('a name read from invalid UTF-8 (U+FFFD on decoding, 3 bytes each) is written back within the limit', () => {
    const raw = Buffer.alloc(2 + MAX_STRING_BYTES, 0xff);
    raw.writeInt16BE(MAX_STRING_BYTES, 0);
    const name = new Reader(raw).string()!;
    expect(Buffer.byteLength(name)).toBe(3 * MAX_STRING_BYTES); // what used to overflow the int16 length
    const { classic, compact } = writeBoth(name);
    expect(classic.readInt16BE(0)).toBeLessThanOrEqual(MAX_STRING_BYTES);
    expect(new Reader(compact).compactString()).toBe(new Reader(classic).string());
  });
});

describe('the string readers', () => {
  it('refuse a compact string longer than MAX_STRING_BYTES, as Kafka does', () => {
    const n = MAX_STRING_BYTES + 1;
    const w = Writer.alloc(5 + n);
    w.uvarint(n + 1);
    w.rawBytes(Buffer.alloc(n, 0x61));
    expect(() => new Reader(w.finish()).compactString()).toThrow(ProtocolError);
    expect(() => new Reader(w.finish()).compactString()).toThrow(/longer than the protocol allows/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The claim that an echoed name goes back in the encoding it came in: request and response of an API share
// their versions and flexible versions, and no request or response field has its own flexibleVersions.

describe('request and response encodings match version by version', () => {
  const dir = SPEC_DIR;
  const requests = readdirSync(dir).filter((f) => f.endsWith('Request.json'));

  it('for every API in the specs', () => {
    expect(requests.length).toBeGreaterThan(80);
    const fieldLevel: string[] = [];
    for (const file of requests) {
      const req = loadSpec(path.join(dir, file));
      const res = loadSpec(path.join(dir, file.replace(/Request\.json$/, 'Response.json')));
      expect(res.validVersions, file).toBe(req.validVersions);
      expect(res.flexibleVersions, file).toBe(req.flexibleVersions);
      const walk = (fields: SpecField[], where: string): void => {
        for (const f of fields) {
          if (f.flexibleVersions !== undefined) fieldLevel.push(`${where}.${f.name}`);
          if (f.fields) walk(f.fields, `${where}.${f.name}`);
        }
      };
      walk(req.fields, req.name);
      walk(res.fields, res.name);
    }
    // Only RequestHeader.ClientId has field-level flexibleVersions, and it is in the header (not in these files).
    expect(fieldLevel).toEqual([]);
  });
});
