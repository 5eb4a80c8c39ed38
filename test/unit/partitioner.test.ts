import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { murmur2, partitionForKey, toPositive } from '../../src/client/partitioner.js';

// Vectors from Kafka's UtilsTest.testMurmur2 (Java int results).
const VECTORS: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

describe('murmur2', () => {
  it.each(VECTORS)('murmur2(%j) = %d', (key, expected) => {
    expect(murmur2(Buffer.from(key))).toBe(expected);
  });

  it('returns a signed 32-bit int', () => {
    expect(murmur2(Buffer.alloc(0))).toBe(murmur2(Buffer.alloc(0)) | 0);
  });

  it('property: agrees with kafkajs (an independent Java-compatible implementation)', () => {
    const require = createRequire(import.meta.url);
    const kjs = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (k: Buffer) => number;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (arr) => {
        const key = Buffer.from(arr);
        expect(murmur2(key)).toBe(kjs(key));
      }),
      { numRuns: 500 },
    );
  });
});

describe('partitionForKey', () => {
  it('uses toPositive(murmur2) % n', () => {
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-973932308)).toBe(-973932308 & 0x7fffffff);
    for (const [key, h] of VECTORS) {
      for (const n of [1, 3, 7, 12, 100]) {
        expect(partitionForKey(Buffer.from(key), n)).toBe((h & 0x7fffffff) % n);
      }
    }
  });
  it('stays within range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 1000 }), (arr, n) => {
        const p = partitionForKey(Buffer.from(arr), n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
      }),
    );
  });
});
