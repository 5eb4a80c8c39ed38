/**
 * Responses with large records fields are written without copying the records into the frame
 * (encodeResponseChunks: the frame as buffers for one writev). The chunks must add up to exactly the bytes the
 * one-buffer encoder produces, for every Fetch version, and the records must be the caller's own buffer.
 */
import { describe, expect, it } from 'vitest';
import { SPLICE_MIN_BYTES, encodeResponse, encodeResponseChunks } from '../../src/server/request-runner.js';
import { API_CODECS } from '../../src/protocol/generated/apis.js';
import { buildRecordBatch } from '../../src/protocol/records.js';

const fetchCodec = API_CODECS.get(1)!;

function fetchBody(records: Buffer[]): Record<string, unknown> {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: 'ünïcode-topic',
        topicId: Buffer.alloc(16, 7),
        partitions: records.map((r, i) => ({
          partitionIndex: i,
          errorCode: 0,
          highWatermark: 1000 + i,
          lastStableOffset: 1000 + i,
          logStartOffset: 0,
          abortedTransactions: [],
          preferredReadReplica: -1,
          records: r,
        })),
      },
    ],
  };
}

describe('encodeResponseChunks', () => {
  const big = buildRecordBatch(Array.from({ length: 500 }, (_, i) => ({ key: null, value: Buffer.alloc(100, i), timestamp: 1_700_000_000_000 })));
  const small = buildRecordBatch([{ key: null, value: Buffer.from('tiny'), timestamp: 1_700_000_000_000 }]);

  it('adds up to the one-buffer encoding for every Fetch version, referencing large records', () => {
    expect(big.length).toBeGreaterThanOrEqual(SPLICE_MIN_BYTES);
    for (let v = 4; v <= 16; v++) {
      const body = fetchBody([big, small, big]);
      const whole = encodeResponse(fetchCodec, v, 42, body);
      const chunks = encodeResponseChunks(fetchCodec, v, 42, body);
      expect(Array.isArray(chunks), `v${v}`).toBe(true);
      expect(Buffer.concat(chunks as Buffer[]).equals(whole), `v${v}`).toBe(true);
      // the large records went out as the very buffer given, twice; the small one was copied
      expect((chunks as Buffer[]).filter((c) => c === big)).toHaveLength(2);
      expect((chunks as Buffer[]).includes(small)).toBe(false);
    }
  });

  it('encodes a response without large fields into one buffer, as before', () => {
    const body = fetchBody([small]);
    const out = encodeResponseChunks(fetchCodec, 12, 7, body);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect((out as Buffer).equals(encodeResponse(fetchCodec, 12, 7, body))).toBe(true);
  });
});
