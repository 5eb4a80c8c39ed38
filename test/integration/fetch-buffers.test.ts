/**
 * Fetch responses are read into pooled buffers that the broker reuses once a response's socket write completed
 * (src/log/read-buffer-pool.ts, src/server/connection.ts), and sequential reads continue from remembered batch
 * positions (src/log/log-segment.ts). If a buffer went back to the pool while its response was still being
 * written, the next fetch would read other records into it and the waiting client would receive them: these tests
 * hold a response back (a client that does not read) while other consumers churn through the pool, and check
 * that every client gets exactly the bytes of the segment files.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerConnection } from '../../src/client/connection.js';
import { kcat, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { decodeResponse, encodeRequest } from '../helpers/raw-client.js';

registerCleanup();

const TOPIC = 'fetch-buffers';
const PARTITIONS = 3;
const RECORDS = 50_000; // per partition, ~6 MiB each: a 4 MiB fetch is a pooled read
const FETCH_BYTES = 4 << 20;
const value = (p: number, i: number): string => `p${p}-${i}-`.padEnd(100, 'x');

let broker: BrokerProcess;
const files: Buffer[] = [];

interface FetchPartitionResult {
  partitionIndex: number;
  errorCode: number;
  highWatermark: bigint | number;
  records: Buffer | null;
}
interface FetchResult {
  responses: { topic: string; partitions: FetchPartitionResult[] }[];
}

function fetchBody(offsets: number[]): unknown {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1 },
    maxWaitMs: 100,
    minBytes: 1,
    maxBytes: 64 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    forgottenTopicsData: [],
    rackId: '',
    topics: [
      {
        topic: TOPIC,
        topicId: Buffer.alloc(16),
        partitions: offsets.map((fetchOffset, partition) => ({
          partition,
          currentLeaderEpoch: -1,
          fetchOffset,
          lastFetchedEpoch: -1,
          logStartOffset: -1,
          partitionMaxBytes: FETCH_BYTES,
        })),
      },
    ],
  };
}

/** File position of the first batch whose last offset is >= offset. */
function positionOf(file: Buffer, offset: number): number {
  let p = 0;
  while (p < file.length && file.readInt32BE(p + 23) + Number(file.readBigInt64BE(p)) < offset) p += file.readInt32BE(p + 8) + 12;
  return p;
}

/** Checks a partition's records against the segment file: the same bytes, from the batch containing `offset`. */
function expectFileBytes(partition: number, offset: number, records: Buffer | null): void {
  expect(records, `partition ${partition} at ${offset}`).not.toBeNull();
  const file = files[partition]!;
  const at = positionOf(file, offset);
  expect(records!.length).toBeGreaterThan(0);
  const same = Buffer.compare(records!, file.subarray(at, at + records!.length)) === 0;
  expect(same, `partition ${partition} at offset ${offset}: ${records!.length} bytes differ from the file at ${at}`).toBe(true);
}

beforeAll(async () => {
  broker = await startBrokerProcess({ overrides: { 'num.partitions': String(PARTITIONS) } });
  for (let p = 0; p < PARTITIONS; p++) {
    const lines = Array.from({ length: RECORDS }, (_, i) => value(p, i)).join('\n') + '\n';
    const res = await kcat(['-b', broker.bootstrap, '-P', '-t', TOPIC, '-p', String(p), '-X', 'linger.ms=5', '-X', 'batch.num.messages=2000'], {
      input: lines,
      timeoutMs: 60_000,
    });
    expect(res.code, res.stderr).toBe(0);
  }
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = path.join(broker.dataDir, `${TOPIC}-${p}`);
    const file = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.log'))!);
    files.push(fs.readFileSync(file));
  }
}, 120_000);

afterAll(async () => {
  await broker?.stop();
});

describe('Fetch responses from pooled buffers', () => {
  it('keeps the buffers of a response still being written while other consumers reuse the pool', async () => {
    // A client that sends a Fetch of ~12 MiB and does not read: the broker's write of the response stays pending
    // (the loopback socket buffers hold a few MiB at most).
    const slow = net.connect({ host: '127.0.0.1', port: broker.port });
    await new Promise<void>((resolve, reject) => {
      slow.once('connect', resolve);
      slow.once('error', reject);
    });
    slow.pause();
    const chunks: Buffer[] = [];
    slow.on('data', (c: Buffer) => chunks.push(c));
    slow.write(encodeRequest(1, 11, 1, fetchBody([0, 0, 0])));

    // Meanwhile four consumers fetch other ranges of the same partitions, 4 MiB per partition at a time, through
    // the pool's buffers of the same size class.
    const conns = await Promise.all(Array.from({ length: 4 }, () => BrokerConnection.connect({ host: '127.0.0.1', port: broker.port })));
    try {
      let fetches = 0;
      await Promise.all(
        conns.map(async (conn, c) => {
          for (let round = 0; round < 6; round++) {
            const offsets = Array.from({ length: PARTITIONS }, (_, p) => 5_000 + ((c * 7_919 + round * 3_001 + p * 1_009) % 40_000));
            const res = await conn.request<FetchResult>(1, fetchBody(offsets), { version: 11 });
            for (const part of res.responses[0]!.partitions) {
              expect(part.errorCode).toBe(0);
              expectFileBytes(part.partitionIndex, offsets[part.partitionIndex]!, part.records);
            }
            fetches++;
          }
        }),
      );
      expect(fetches).toBe(24);
    } finally {
      for (const c of conns) c.close();
    }

    // Now read the held-back response: every partition's records are still the file's bytes.
    slow.resume();
    const total = (): number => chunks.reduce((n, c) => n + c.length, 0);
    await waitFor(() => total() >= 4 && total() >= 4 + Buffer.concat(chunks).readInt32BE(0), { timeoutMs: 30_000, message: 'the whole held-back response' });
    const frame = Buffer.concat(chunks);
    slow.destroy();
    const { body } = decodeResponse<FetchResult>(frame, 1, 11);
    const parts = body.responses[0]!.partitions;
    expect(parts).toHaveLength(PARTITIONS);
    for (const part of parts) {
      expect(part.errorCode).toBe(0);
      expect(part.records!.length).toBeGreaterThan(FETCH_BYTES / 2); // whole batches of the 4 MiB read
      expectFileBytes(part.partitionIndex, 0, part.records);
    }
  });

  it('stores every record of concurrent producers intact (Produce frames are assembled in reused buffers)', async () => {
    // Four kcat producers at once, gzip batches of ~1 MiB (each request spans many socket reads, so its frame is a
    // pooled buffer given back after the append; a compressed batch is inflated on the thread pool, so the request
    // is handled asynchronously while other frames are assembled): if a frame went back while its records were
    // still needed, another producer's bytes would end up in the log (and fail the CRC or the values below).
    const topic = 'produce-frames';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const producedValue = (w: number, i: number): string => {
      let x = (w * 1_000_003 + i * 7_919 + 1) >>> 0;
      let v = `w${w}-${i}-`;
      while (v.length < 100) {
        x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0; // incompressible enough that gzip batches stay ~1 MiB
        v += alphabet[x >>> 26];
      }
      return v;
    };
    const perProducer = 40_000;
    const producers = await Promise.all(
      Array.from({ length: 4 }, (_, w) => {
        const lines = Array.from({ length: perProducer }, (_, i) => producedValue(w, i)).join('\n') + '\n';
        return kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-z', 'gzip', '-X', 'linger.ms=20', '-X', 'batch.num.messages=12000'], {
          input: lines,
          timeoutMs: 60_000,
        });
      }),
    );
    for (const res of producers) expect(res.code, res.stderr).toBe(0);
    const read = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-X', 'check.crcs=true', '-f', '%s\\n'], { timeoutMs: 60_000 });
    expect(read.code, read.stderr).toBe(0);
    const values = read.stdout.split('\n').filter(Boolean);
    expect(values).toHaveLength(4 * perProducer);
    const next = [0, 0, 0, 0];
    for (const v of values) {
      const w = Number(/^w(\d)-/.exec(v)?.[1] ?? -1);
      expect(w >= 0 && w < 4, v.slice(0, 40)).toBe(true);
      // each producer's records in its own order, with their own bytes
      expect(v).toBe(producedValue(w, next[w]!));
      next[w]!++;
    }
  });

  it('serves several kcat consumers at once every record intact', async () => {
    const reads = await Promise.all(
      Array.from({ length: 4 }, () =>
        kcat(['-b', broker.bootstrap, '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-q', '-X', 'fetch.message.max.bytes=4194304', '-f', '%p %o %s\\n'], {
          timeoutMs: 60_000,
        }),
      ),
    );
    for (const res of reads) {
      expect(res.code, res.stderr).toBe(0);
      const lines = res.stdout.split('\n').filter(Boolean);
      expect(lines).toHaveLength(PARTITIONS * RECORDS);
      const bad = lines.filter((l) => {
        const [p, o, v] = l.split(' ');
        return v !== value(Number(p), Number(o));
      });
      expect(bad.slice(0, 3)).toEqual([]);
    }
  });
});
