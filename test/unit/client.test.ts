/**
 * Client pieces that need no broker: framing, version negotiation, request encoding, a connection to a
 * scripted in-process TCP server, the producer's accumulator (with a fake transport), and the console
 * tools' line parsing / formatting.
 */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BrokerConnection,
  ConnectionError,
  FrameDecoder,
  chooseVersion,
  clientVersionRange,
  decodeResponse,
  encodeRequest,
  negotiateVersions,
} from '../../src/client/connection.js';
import { backoffMs, parseBootstrap } from '../../src/client/cluster-client.js';
import {
  Producer,
  type Acks,
  type PartitionResult,
  type ProduceBatch,
  type ProducerTransport,
  type TopicPartitions,
} from '../../src/client/producer.js';
import { partitionForKey } from '../../src/client/partitioner.js';
import { API_CODECS, ApiKey, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import * as apiTable from '../../src/protocol/generated/api-table.js';
import { readRequestHeader } from '../../src/protocol/generated/request-header.js';
import { writeResponseHeader, sizeResponseHeader } from '../../src/protocol/generated/response-header.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import type { ApiVersionsRequest } from '../../src/protocol/generated/index.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { waitFor } from '../helpers/wait.js';
import { LineSplitter, lineReaderConfig, parseLine } from '../../commands/console-producer.js';
import { formatJson, formatRecord, formatterConfig } from '../../commands/console-consumer.js';

function frame(payload: Buffer): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeInt32BE(payload.length, 0);
  payload.copy(b, 4);
  return b;
}

describe('FrameDecoder', () => {
  const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(70_000, 7)];
  const stream = Buffer.concat(payloads.map(frame));

  it('decodes frames merged into one chunk', () => {
    const d = new FrameDecoder();
    const out = d.push(stream);
    expect(out.map((b) => b.length)).toEqual(payloads.map((b) => b.length));
    expect(out.every((b, i) => b.equals(payloads[i]!))).toBe(true);
    expect(d.pending).toBe(0);
  });

  it('decodes frames split at every possible byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut += cut < 40 ? 1 : 997) {
      const d = new FrameDecoder();
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(out.length).toBe(payloads.length);
      // Buffer.equals: deep-equality on a 70 KB buffer is slow
      expect(out.every((b, i) => b.equals(payloads[i]!))).toBe(true);
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const small = Buffer.concat([frame(Buffer.from('xy')), frame(Buffer.from('z'))]);
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < small.length; i++) out.push(...d.push(small.subarray(i, i + 1)));
    expect(out.map(String)).toEqual(['xy', 'z']);
  });

  it('rejects a negative frame size', () => {
    const d = new FrameDecoder();
    expect(() => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/invalid response frame size/);
    expect(() => new FrameDecoder().pushBorrowed(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/invalid response frame size/);
  });

  it('pushBorrowed: decodes frames read into one reused buffer, at any read size, and keeps no reference to it', () => {
    for (const size of [1, 3, 4, 5, 64, 65_536, stream.length]) {
      const d = new FrameDecoder();
      const shared = Buffer.alloc(size);
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) {
        const n = Math.min(size, stream.length - at);
        stream.copy(shared, 0, at, at + n);
        out.push(...d.pushBorrowed(shared.subarray(0, n)));
        shared.fill(0xee); // the next read overwrites the shared buffer
      }
      expect(out.length, `reads of ${size} bytes`).toBe(payloads.length);
      expect(out.every((b, i) => b.equals(payloads[i]!)), `reads of ${size} bytes`).toBe(true);
      expect(d.pending).toBe(0);
    }
  });
});

describe('version negotiation', () => {
  it('picks the highest version in both ranges', () => {
    expect(chooseVersion(3, 11, 0, 9)).toBe(9);
    expect(chooseVersion(3, 11, 0, 11)).toBe(11);
    expect(chooseVersion(4, 12, 4, 16)).toBe(12);
    expect(chooseVersion(0, 3, 0, 3)).toBe(3);
  });

  it('returns -1 when the ranges do not overlap', () => {
    expect(chooseVersion(3, 11, 0, 2)).toBe(-1);
    expect(chooseVersion(0, 2, 5, 9)).toBe(-1);
  });

  it('negotiates per API against the broker ranges kfk serves', () => {
    const broker = new Map([
      [ApiKey.ApiVersions, { min: 0, max: 3 }],
      [ApiKey.Metadata, { min: 0, max: 12 }],
      [ApiKey.Produce, { min: 3, max: 11 }],
      [ApiKey.Fetch, { min: 4, max: 16 }],
      [ApiKey.ListOffsets, { min: 0, max: 7 }],
      [ApiKey.CreateTopics, { min: 0, max: 7 }],
      [ApiKey.DeleteTopics, { min: 0, max: 6 }],
      [9999, { min: 0, max: 1 }],
    ]);
    const v = negotiateVersions(broker);
    expect(v.get(ApiKey.ApiVersions)).toBe(3);
    expect(v.get(ApiKey.Metadata)).toBe(12);
    expect(v.get(ApiKey.Produce)).toBe(11);
    expect(v.get(ApiKey.Fetch)).toBe(12); // capped: v13+ addresses topics by id
    expect(v.get(ApiKey.ListOffsets)).toBe(7);
    expect(v.get(ApiKey.CreateTopics)).toBe(7);
    expect(v.get(ApiKey.DeleteTopics)).toBe(6);
    expect(v.has(9999)).toBe(false);
  });

  it('leaves out APIs without an overlap (an old broker)', () => {
    const v = negotiateVersions(new Map([[ApiKey.Produce, { min: 0, max: 2 }]]));
    expect(v.has(ApiKey.Produce)).toBe(false);
  });

  it('client ranges stay within the generated codecs', () => {
    for (const [key, codec] of API_CODECS) {
      const r = clientVersionRange(key)!;
      expect(r[0]).toBeGreaterThanOrEqual(codec.minVersion);
      expect(r[1]).toBeLessThanOrEqual(codec.maxStableVersion);
    }
  });
});

describe('the light API table (api-table.ts) the client uses', () => {
  it('agrees with apis.ts on every API, and loads the same codec functions on demand', async () => {
    expect([...apiTable.API_TABLE.keys()]).toEqual([...API_CODECS.keys()]);
    expect(apiTable.ApiKey).toEqual(ApiKey);
    for (const [key, full] of API_CODECS) {
      const light = apiTable.API_TABLE.get(key)!;
      expect([light.name, light.minVersion, light.maxVersion, light.maxStableVersion, light.flexibleMin]).toEqual([
        full.name,
        full.minVersion,
        full.maxVersion,
        full.maxStableVersion,
        full.flexibleMin,
      ]);
      for (let v = full.minVersion; v <= full.maxVersion; v++) {
        expect(apiTable.requestHeaderVersion(key, v)).toBe(requestHeaderVersion(key, v));
        expect(apiTable.responseHeaderVersion(key, v)).toBe(responseHeaderVersion(key, v));
      }
      const loaded = (await apiTable.loadApiCodec(key))!;
      expect(loaded.readRequest).toBe(full.readRequest);
      expect(loaded.writeResponse).toBe(full.writeResponse);
      expect(loaded.sizeResponse).toBe(full.sizeResponse);
    }
    expect(await apiTable.loadApiCodec(9999)).toBeUndefined();
  });
});

describe('request encoding', () => {
  beforeAll(async () => {
    // encodeRequest / decodeResponse use codecs already loaded (BrokerConnection loads each before its first request)
    for (const key of API_CODECS.keys()) await apiTable.loadApiCodec(key);
  });

  it('writes size, header v2 (flexible) and body in one buffer', () => {
    const body = { topics: [{ name: 't', topicId: Buffer.alloc(16) }], allowAutoTopicCreation: false };
    const buf = encodeRequest(ApiKey.Metadata, 12, 42, 'cid', body);
    expect(buf.readInt32BE(0)).toBe(buf.length - 4);
    const r = new Reader(buf, 4);
    const h = readRequestHeader(r, requestHeaderVersion(ApiKey.Metadata, 12));
    expect(h).toMatchObject({ requestApiKey: 3, requestApiVersion: 12, correlationId: 42, clientId: 'cid' });
    const decoded = API_CODECS.get(ApiKey.Metadata)!.readRequest(r, 12);
    expect(decoded.topics[0].name).toBe('t');
    expect(r.remaining).toBe(0);
  });

  it('uses header v1 for non-flexible versions', () => {
    const buf = encodeRequest(ApiKey.Produce, 7, 1, 'c', { transactionalId: null, acks: 1, timeoutMs: 100, topicData: [] });
    const r = new Reader(buf, 4);
    readRequestHeader(r, 1);
    API_CODECS.get(ApiKey.Produce)!.readRequest(r, 7);
    expect(r.remaining).toBe(0);
  });

  it('decodes response header v1 (flexible) and v0 (ApiVersions always)', () => {
    const payload = encodeResponse(ApiKey.Metadata, 12, 9, { brokers: [], topics: [], controllerId: 0, clusterId: 'x' });
    expect(decodeResponse(ApiKey.Metadata, 12, payload)).toMatchObject({ correlationId: 9, body: { controllerId: 0 } });
    const av = encodeResponse(ApiKey.ApiVersions, 3, 5, { errorCode: 0, apiKeys: [{ apiKey: 3, minVersion: 0, maxVersion: 12 }] });
    expect(decodeResponse(ApiKey.ApiVersions, 3, av).body.apiKeys).toEqual([{ apiKey: 3, minVersion: 0, maxVersion: 12 }]);
  });
});

// ---------------------------------------------------------------------------------------------------
// A scripted broker on a real socket

function encodeResponse(apiKey: number, version: number, correlationId: number, body: unknown): Buffer {
  const codec = API_CODECS.get(apiKey)!;
  const hv = responseHeaderVersion(apiKey, version);
  const size = sizeResponseHeader({ correlationId }, hv) + codec.sizeResponse(body, version);
  const w = Writer.alloc(size);
  writeResponseHeader(w, { correlationId }, hv);
  codec.writeResponse(w, body, version);
  return w.buf;
}

interface SeenRequest {
  apiKey: number;
  version: number;
  correlationId: number;
  /** The decoded request (undefined if it did not decode): cast to the generated type of `apiKey`'s request. */
  body: unknown;
}

type Handler = (req: SeenRequest) => Buffer | Buffer[] | null;

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server that decodes requests and answers with handler's payloads (null = no answer). */
async function fakeBroker(handler: Handler, opts: { chunkSize?: number } = {}): Promise<{ port: number; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const server = net.createServer((sock) => {
    const d = new FrameDecoder();
    sock.on('data', (chunk: Buffer) => {
      for (const payload of d.push(chunk)) {
        const apiKey = payload.readInt16BE(0);
        const version = payload.readInt16BE(2);
        const r = new Reader(payload);
        const h = readRequestHeader(r, requestHeaderVersion(apiKey, version));
        let body: unknown;
        try {
          body = API_CODECS.get(apiKey)!.readRequest(r, version);
        } catch {
          body = undefined;
        }
        const req = { apiKey, version, correlationId: h.correlationId, body };
        seen.push(req);
        const out = handler(req);
        if (out === null) continue;
        const bytes = Buffer.concat((Array.isArray(out) ? out : [out]).map(frame));
        const size = opts.chunkSize ?? bytes.length;
        for (let i = 0; i < bytes.length; i += size) sock.write(bytes.subarray(i, i + size));
      }
    });
    sock.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, seen };
}

const BROKER_RANGES = [
  { apiKey: ApiKey.Produce, minVersion: 3, maxVersion: 9 },
  { apiKey: ApiKey.Fetch, minVersion: 4, maxVersion: 16 },
  { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 8 },
  { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 2 },
];

function apiVersionsAnswer(req: SeenRequest): Buffer {
  if (req.version > 2) {
    // KIP-511: a v0-shaped body with UNSUPPORTED_VERSION, whatever version was asked.
    return encodeResponse(ApiKey.ApiVersions, 0, req.correlationId, {
      errorCode: ErrorCode.UNSUPPORTED_VERSION,
      apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 2 }],
    });
  }
  return encodeResponse(ApiKey.ApiVersions, req.version, req.correlationId, { errorCode: 0, apiKeys: BROKER_RANGES });
}

describe('BrokerConnection', () => {
  it('falls back from ApiVersions v3 to v0 on UNSUPPORTED_VERSION and negotiates per API', async () => {
    const { port, seen } = await fakeBroker((req) => (req.apiKey === ApiKey.ApiVersions ? apiVersionsAnswer(req) : null));
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port });
    try {
      expect(seen.map((r) => [r.apiKey, r.version])).toEqual([
        [18, 3],
        [18, 0],
      ]);
      expect((seen[0]!.body as ApiVersionsRequest).clientSoftwareName).toBe('kfk');
      expect(conn.versionFor(ApiKey.Produce)).toBe(9);
      expect(conn.versionFor(ApiKey.Fetch)).toBe(12);
      expect(conn.versionFor(ApiKey.Metadata)).toBe(8);
      expect(conn.versionFor(ApiKey.ListOffsets)).toBe(-1);
      await expect(conn.request(ApiKey.ListOffsets, {})).rejects.toThrow(/does not support ListOffsets/);
    } finally {
      conn.close();
    }
  });

  it('matches pipelined responses by correlation id, across split and merged chunks', async () => {
    let pendingMeta: SeenRequest[] = [];
    const { port } = await fakeBroker(
      (req) => {
        if (req.apiKey === ApiKey.ApiVersions) return apiVersionsAnswer(req);
        pendingMeta.push(req);
        if (pendingMeta.length < 3) return null; // answer three at once, in order
        const out = pendingMeta.map((r, i) =>
          encodeResponse(ApiKey.Metadata, r.version, r.correlationId, { brokers: [], topics: [], controllerId: i, clusterId: `c${i}` }),
        );
        pendingMeta = [];
        return out;
      },
      { chunkSize: 3 },
    );
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port });
    try {
      const rs = await Promise.all([0, 1, 2].map(() => conn.request(ApiKey.Metadata, { topics: [] })));
      expect(rs.map((r) => r.clusterId)).toEqual(['c0', 'c1', 'c2']);
      expect(conn.inFlightCount).toBe(0);
    } finally {
      conn.close();
    }
  });

  it('sends requests that expect no response (acks=0) without waiting', async () => {
    const { port, seen } = await fakeBroker((req) => (req.apiKey === ApiKey.ApiVersions ? apiVersionsAnswer(req) : null));
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port });
    try {
      const body = { transactionalId: null, acks: 0, timeoutMs: 1000, topicData: [] };
      await expect(conn.request(ApiKey.Produce, body, { expectResponse: false })).resolves.toBeUndefined();
      await waitFor(() => seen.some((r) => r.apiKey === ApiKey.Produce), { message: 'the broker to receive the acks=0 produce' });
      expect(seen.at(-1)).toMatchObject({ apiKey: ApiKey.Produce, body: { acks: 0 } });
    } finally {
      conn.close();
    }
  });

  it('times out a request and closes the connection', async () => {
    const { port } = await fakeBroker((req) => (req.apiKey === ApiKey.ApiVersions ? apiVersionsAnswer(req) : null));
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port, requestTimeoutMs: 100 });
    await expect(conn.request(ApiKey.Metadata, { topics: [] })).rejects.toThrow(/timed out after 100ms/);
    expect(conn.closed).toBe(true);
  });

  it('names the address when nothing listens there', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    const err = await BrokerConnection.connect({ host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toBe(`no broker at 127.0.0.1:${port} (connection refused)`);
  });

  it('rejects in-flight requests when the broker closes the connection', async () => {
    const { port } = await fakeBroker((req) => {
      if (req.apiKey === ApiKey.ApiVersions) return apiVersionsAnswer(req);
      return null;
    });
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port });
    const p = conn.request(ApiKey.Metadata, { topics: [] });
    for (const s of servers) s.close();
    // Close the server side of the socket: end every connection the server holds.
    (conn as unknown as { socket: net.Socket }).socket.end();
    await expect(p).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe('parseBootstrap', () => {
  it('parses host:port lists', () => {
    expect(parseBootstrap('localhost:9092, b:9093')).toEqual([
      { host: 'localhost', port: 9092 },
      { host: 'b', port: 9093 },
    ]);
    expect(parseBootstrap(['[::1]:9094', 'h'])).toEqual([
      { host: '::1', port: 9094 },
      { host: 'h', port: 9092 },
    ]);
    expect(parseBootstrap('PLAINTEXT://x:1')).toEqual([{ host: 'x', port: 1 }]);
  });
  it('rejects garbage', () => {
    expect(() => parseBootstrap('')).toThrow();
    expect(() => parseBootstrap('h:notaport')).toThrow(/invalid bootstrap server/);
  });
  it('backs off exponentially up to the cap', () => {
    for (let i = 0; i < 20; i++) expect(backoffMs(i, 100, 1000)).toBeLessThanOrEqual(1200);
    expect(backoffMs(0, 100, 1000)).toBeGreaterThanOrEqual(80);
    expect(backoffMs(0, 100, 1000)).toBeLessThanOrEqual(120);
  });
});

// ---------------------------------------------------------------------------------------------------
// Producer with a fake transport

interface Call {
  leader: number;
  acks: Acks;
  batches: Array<{ topic: string; partition: number; values: string[]; keys: Array<string | null>; compression: number }>;
}

class FakeTransport implements ProducerTransport {
  calls: Call[] = [];
  leaders = new Map<string, number[]>();
  refreshes = 0;
  offsets = new Map<string, number>();
  /** Return a per-partition error code for the next n answers. */
  failNext: number[] = [];
  delayMs = 0;
  inFlight = 0;
  maxInFlightSeen = 0;

  async topic(topic: string): Promise<TopicPartitions> {
    const l = this.leaders.get(topic);
    if (!l) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist.`);
    return { leaders: l };
  }
  leader(topic: string, partition: number): number {
    return this.leaders.get(topic)?.[partition] ?? -1;
  }
  async refresh(): Promise<void> {
    this.refreshes++;
  }
  async produce(leader: number, acks: Acks, _timeoutMs: number, batches: ProduceBatch[]): Promise<Array<PartitionResult | undefined>> {
    this.inFlight++;
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlight);
    this.calls.push({
      leader,
      acks,
      batches: batches.map((b) => {
        const [decoded] = decodeRecordBatches(b.records);
        return {
          topic: b.topic,
          partition: b.partition,
          values: decoded!.records.map((r) => String(r.value)),
          keys: decoded!.records.map((r) => (r.key === null ? null : String(r.key))),
          compression: decoded!.compression,
        };
      }),
    });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.inFlight--;
    const code = this.failNext.length > 0 ? this.failNext.shift()! : 0;
    return batches.map((b) => {
      if (code !== 0) return { errorCode: code, baseOffset: -1, errorMessage: null };
      const k = `${b.topic}-${b.partition}`;
      const base = this.offsets.get(k) ?? 0;
      this.offsets.set(k, base + b.recordCount);
      return { errorCode: 0, baseOffset: base };
    });
  }
  async close(): Promise<void> {}
}

function producerWith(t: FakeTransport, opts: Partial<ConstructorParameters<typeof Producer>[0]> = {}): Producer {
  return new Producer({ transport: t, retryBackoffMs: 5, retryBackoffMaxMs: 20, ...opts });
}

describe('Producer accumulator', () => {
  it('batches records sent within linger.ms into one request, sent when linger.ms is up', async () => {
    // The producer's clock (Date, setTimeout) is faked so that linger.ms is exact, whatever the machine's load;
    // setImmediate stays real (the producer drains on it).
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    try {
      const t = new FakeTransport();
      t.leaders.set('t', [0]);
      const p = producerWith(t, { lingerMs: 30 });
      const sends = ['a', 'b', 'c'].map((v) => p.send('t', { value: v }));
      await vi.advanceTimersByTimeAsync(29);
      await new Promise((r) => setImmediate(r));
      expect(t.calls).toHaveLength(0); // still lingering
      await vi.advanceTimersByTimeAsync(1);
      const acks = await Promise.all(sends);
      expect(acks.map((a) => a.offset)).toEqual([0, 1, 2]);
      expect(t.calls).toHaveLength(1);
      expect(t.calls[0]!.batches[0]!.values).toEqual(['a', 'b', 'c']);
      await p.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends a batch as soon as it reaches batch.size, without waiting for linger', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0]);
    const p = producerWith(t, { lingerMs: 60_000, batchSize: 200 });
    const value = 'x'.repeat(50);
    const sends = Array.from({ length: 6 }, () => p.send('t', { value, partition: 0 }));
    // Two full batches go out at once; the rest waits for linger (or flush).
    await Promise.all(sends.slice(0, 4));
    expect(t.calls.length).toBeGreaterThanOrEqual(1);
    const first = t.calls.flatMap((c) => c.batches).map((b) => b.values.length);
    expect(first.every((n) => n <= 3)).toBe(true);
    await p.flush();
    await Promise.all(sends);
    const all = t.calls.flatMap((c) => c.batches).flatMap((b) => b.values);
    expect(all).toHaveLength(6);
    await p.close();
  });

  it('flush() sends lingering batches immediately', async () => {
    // With the clock faked and never advanced, linger.ms never ends: flush() resolving shows it did not wait for it.
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    try {
      const t = new FakeTransport();
      t.leaders.set('t', [0]);
      const p = producerWith(t, { lingerMs: 60_000 });
      const s = p.send('t', { value: 'v' });
      await p.flush();
      expect(t.calls).toHaveLength(1);
      await expect(s).resolves.toMatchObject({ partition: 0, offset: 0 });
      await p.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('partitions keyed records with murmur2 like the Java client', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0, 0, 0, 0, 0]);
    const p = producerWith(t, { lingerMs: 0 });
    const keys = ['a', 'b', 'c', 'd', 'hello', 'key-42', ''];
    const res = await Promise.all(keys.map((k) => p.send('t', { key: k, value: 'v' })));
    res.forEach((r, i) => expect(r.partition).toBe(partitionForKey(Buffer.from(keys[i]!), 5)));
    await p.close();
  });

  it('sticks unkeyed records to one partition until batch.size bytes, then moves on', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0, 0, 0]);
    const p = producerWith(t, { lingerMs: 10, batchSize: 1000 });
    const first = await Promise.all(Array.from({ length: 5 }, () => p.send('t', { value: 'x'.repeat(10) })));
    expect(new Set(first.map((r) => r.partition)).size).toBe(1);
    const many = await Promise.all(Array.from({ length: 300 }, () => p.send('t', { value: 'x'.repeat(10) })));
    expect(new Set(many.map((r) => r.partition)).size).toBe(3);
    await p.close();
  });

  it('puts one batch per partition in a request and compresses it', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [1, 1]);
    const p = producerWith(t, { lingerMs: 20, compression: 'gzip' });
    await Promise.all([p.send('t', { value: 'a', partition: 0 }), p.send('t', { value: 'b', partition: 1 })]);
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]!.leader).toBe(1);
    expect(t.calls[0]!.batches.map((b) => b.partition).sort()).toEqual([0, 1]);
    expect(t.calls[0]!.batches[0]!.compression).toBe(CompressionType.gzip);
    await p.close();
  });

  it('retries retriable errors (refreshing metadata) and then succeeds', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0]);
    t.failNext = [ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.NOT_LEADER_OR_FOLLOWER];
    const p = producerWith(t, { lingerMs: 0 });
    await expect(p.send('t', { value: 'v' })).resolves.toMatchObject({ offset: 0 });
    expect(t.calls).toHaveLength(3);
    expect(t.refreshes).toBeGreaterThanOrEqual(1);
    await p.close();
  });

  it('gives up after `retries` and fails at once on non-retriable errors', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0]);
    t.failNext = [ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.NOT_ENOUGH_REPLICAS];
    const p = producerWith(t, { lingerMs: 0, retries: 2 });
    await expect(p.send('t', { value: 'v' })).rejects.toMatchObject({ code: ErrorCode.NOT_ENOUGH_REPLICAS });
    expect(t.calls).toHaveLength(3);
    t.failNext = [ErrorCode.MESSAGE_TOO_LARGE];
    await expect(p.send('t', { value: 'w' })).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    expect(t.calls).toHaveLength(4);
    await p.close();
  });

  it('keeps at most maxInFlight requests per broker', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0]);
    t.delayMs = 20;
    const p = producerWith(t, { lingerMs: 0, batchSize: 100, maxInFlight: 3 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => p.send('t', { value: `value-${i}-${'x'.repeat(60)}`, partition: 0 })));
    expect(t.maxInFlightSeen).toBe(3);
    // Offsets come back in send order.
    const values = t.calls.flatMap((c) => c.batches.flatMap((b) => b.values));
    expect(values.map((v) => Number(v.split('-')[1]))).toEqual(Array.from({ length: 40 }, (_, i) => i));
    await p.close();
  });

  it('acks=0 resolves with offset -1', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0]);
    const p = producerWith(t, { lingerMs: 0, acks: 0 });
    await expect(p.send('t', { value: 'v' })).resolves.toMatchObject({ offset: -1 });
    expect(t.calls[0]!.acks).toBe(0);
    await p.close();
  });

  it('rejects records for unknown topics, invalid partitions and oversized records', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0, 0]);
    const p = producerWith(t, { lingerMs: 0, maxRequestSize: 1000 });
    await expect(p.send('missing', { value: 'v' })).rejects.toThrow(/does not exist/);
    await expect(p.send('t', { value: 'v', partition: 2 })).rejects.toThrow(/Partition 2/);
    await expect(p.send('t', { value: 'x'.repeat(2000) })).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    await p.close();
  });

  it('waitForBufferSpace() blocks while bufferMemory is used up', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [0]);
    // linger.ms is long, so nothing is sent (and no buffer space comes free) until flush().
    const p = producerWith(t, { lingerMs: 60_000, bufferMemory: 500 });
    const sends = Array.from({ length: 10 }, () => p.send('t', { value: 'x'.repeat(100) }));
    expect(p.bufferedBytes).toBeGreaterThanOrEqual(500);
    let released = false;
    const wait = p.waitForBufferSpace().then(() => (released = true));
    await new Promise((r) => setImmediate(r)); // let the producer run its drain: it must not release anything
    expect(released).toBe(false);
    expect(t.calls).toHaveLength(0);
    await p.flush();
    await Promise.all(sends);
    await wait;
    expect(released).toBe(true);
    expect(p.bufferedBytes).toBe(0);
    await p.close();
  });

  it('waits for a leader, then delivers', async () => {
    const t = new FakeTransport();
    t.leaders.set('t', [-1]);
    const p = producerWith(t, { lingerMs: 0 });
    const s = p.send('t', { value: 'v' });
    // Without a leader the producer refreshes metadata instead of sending.
    await waitFor(() => t.refreshes > 0, { message: 'a metadata refresh' });
    expect(t.calls).toHaveLength(0);
    t.leaders.set('t', [2]);
    await expect(s).resolves.toMatchObject({ offset: 0 });
    expect(t.calls[0]!.leader).toBe(2);
    await p.close();
  });
});

// ---------------------------------------------------------------------------------------------------
// Console tools

describe('console-producer line parsing', () => {
  it('splits lines across chunks and strips \\r\\n', () => {
    const s = new LineSplitter();
    const out: string[] = [];
    const on = (b: Buffer): void => {
      out.push(String(b));
    };
    s.push(Buffer.from('hel'), on);
    s.push(Buffer.from('lo\r\nwor'), on);
    s.push(Buffer.from('ld\n\nlast'), on);
    s.end(on);
    expect(out).toEqual(['hello', 'world', '', 'last']);
  });

  it('parses keys and headers like Kafka\'s LineMessageReader', () => {
    const cfg = lineReaderConfig({ 'parse.key': 'true', 'parse.headers': 'true' });
    expect(parseLine('h1:v1,h2:v2\tk\tv\tx', 1, cfg)).toEqual({
      key: 'k',
      value: 'v\tx',
      headers: [
        { key: 'h1', value: Buffer.from('v1') },
        { key: 'h2', value: Buffer.from('v2') },
      ],
    });
    expect(parseLine('\tk\tv', 1, cfg).headers).toEqual([]);
    expect(() => parseLine('novalue', 3, cfg)).toThrow(/No headers delimiter found on line number 3/);
    const keyOnly = lineReaderConfig({ 'parse.key': 'true', 'key.separator': '::', 'null.marker': 'NULL' });
    expect(parseLine('a::b::c', 1, keyOnly)).toMatchObject({ key: 'a', value: 'b::c' });
    expect(parseLine('NULL::NULL', 1, keyOnly)).toMatchObject({ key: null, value: null });
    expect(() => parseLine('nokey', 7, keyOnly)).toThrow(/No key separator found on line number 7: 'nokey'/);
    const lenient = lineReaderConfig({ 'parse.key': 'true', 'ignore.error': 'true' });
    expect(parseLine('nokey', 1, lenient)).toMatchObject({ key: null, value: 'nokey' });
  });
});

describe('console-consumer formatting', () => {
  const rec = {
    topic: 't',
    partition: 1,
    offset: 7,
    timestamp: 1700000000000,
    timestampType: 'CreateTime' as const,
    key: Buffer.from('k'),
    value: null,
    headers: [{ key: 'h', value: Buffer.from('v') }],
  };
  const fmt = (props: Record<string, string>): string => {
    const out: Buffer[] = [];
    formatRecord(rec, formatterConfig(props), out);
    return Buffer.concat(out).toString();
  };

  it('prints the value alone by default, null as "null"', () => {
    expect(fmt({})).toBe('null\n');
  });

  it('prints the fields in Kafka\'s order', () => {
    expect(
      fmt({ 'print.key': 'true', 'print.timestamp': 'true', 'print.partition': 'true', 'print.offset': 'true', 'print.headers': 'true' }),
    ).toBe('CreateTime:1700000000000\tPartition:1\tOffset:7\th:v\tk\tnull\n');
    expect(fmt({ 'print.key': 'true', 'key.separator': ' => ', 'line.separator': '|' })).toBe('k => null|');
  });

  it('formats JSON', () => {
    expect(JSON.parse(formatJson(rec))).toEqual({
      topic: 't',
      partition: 1,
      offset: 7,
      timestamp: 1700000000000,
      key: 'k',
      value: null,
      headers: { h: 'v' },
    });
  });
});
