/**
 * Hostile and unusual traffic on raw TCP sockets against a kfk broker process. A bad connection is closed by
 * the broker, while long-lived kcat producer/consumer processes on their own connections keep working; request
 * errors that Kafka answers (unsupported ApiVersions version, corrupt CRC, oversized batch) are answered and
 * append nothing; pipelined and byte-by-byte requests are answered in order.
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FrameSplitter,
  REPO_ROOT,
  SYSTEM_PYTHON,
  kcat,
  python,
  registerCleanup,
  spawnProcess,
  startBrokerProcess,
  waitFor,
  type BackgroundProcess,
  type BrokerProcess,
} from '../helpers/index.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { readResponseHeader } from '../../src/protocol/generated/response-header.js';
import { sizeRequestHeader, writeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { readApiVersionsResponse, type ApiVersionsResponse } from '../../src/protocol/generated/api-versions.js';
import { writeProduceRequest, sizeProduceRequest, type ProduceResponse } from '../../src/protocol/generated/produce.js';
import { buildRecordBatch } from '../../src/protocol/records.js';

registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');
const SOCKET_REQUEST_MAX_BYTES = 1_048_576;
const MESSAGE_MAX_BYTES = 10_000;
const LIVE_TOPIC = 'robust-live';

let broker: BrokerProcess;
let liveProducer: BackgroundProcess;
let liveConsumer: BackgroundProcess;
let liveCount = 0;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: {
      'socket.request.max.bytes': String(SOCKET_REQUEST_MAX_BYTES),
      'message.max.bytes': String(MESSAGE_MAX_BYTES),
    },
  });
  // Two long-lived well-behaved clients on their own connections for the whole file.
  const created = await kcat(['-b', broker.bootstrap, '-P', '-t', LIVE_TOPIC], { input: 'live-0\n' });
  expect(created.code, created.stderr).toBe(0);
  liveConsumer = spawnProcess('kcat', ['-b', broker.bootstrap, '-C', '-t', LIVE_TOPIC, '-o', 'beginning', '-u', '-q', '-f', '%s\\n']);
  await liveConsumer.waitForOutput('live-0\n', { timeoutMs: 15_000 });
  // (kcat -P reads stdin in large blocks, so a line-at-a-time producer is kafka-python's)
  liveProducer = spawnProcess(SYSTEM_PYTHON, [KP, 'produce_lines', JSON.stringify({ bootstrap: broker.bootstrap, topic: LIVE_TOPIC })], {
    keepStdinOpen: true,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  await liveProducer.waitForOutput('ready\n', { timeoutMs: 15_000 });
});

afterAll(async () => {
  liveProducer?.end();
  await liveProducer?.stop();
  await liveConsumer?.stop();
});

/** The long-lived kafka-python producer writes one more record (acked) and the long-lived kcat consumer receives it. */
async function liveClientsStillWork(): Promise<void> {
  const line = `live-${++liveCount}`;
  liveProducer.write(`${line}\n`);
  await liveProducer.waitForOutput(`ack ${line} ${liveCount}\n`, { timeoutMs: 15_000 });
  await liveConsumer.waitForOutput(`${line}\n`, { timeoutMs: 15_000 });
  expect(liveProducer.hasExited(), liveProducer.stderr()).toBe(false);
  expect(liveConsumer.hasExited(), liveConsumer.stderr()).toBe(false);
}

// ---------------------------------------------------------------------------------------------------------------
// Raw connections

class RawConnection {
  readonly received: Buffer[] = [];
  private readonly splitter = new FrameSplitter();
  private readonly waiters: (() => void)[] = [];
  closedByPeer = false;
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received.push(...this.splitter.push(chunk));
      this.notify();
    });
    socket.on('end', () => {
      this.closedByPeer = true;
    });
    socket.on('error', () => {
      // ECONNRESET / EPIPE when the broker drops us mid-write: that is a close by the peer too
      this.closedByPeer = true;
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.notify();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(buf: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(buf, () => resolve());
    });
  }

  /** Waits until `n` complete response frames have arrived (or fails on close/timeout). */
  async frames(n: number, timeoutMs = 10_000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (this.isClosed) throw new Error(`connection closed after ${this.received.length} of ${n} responses`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} responses (got ${this.received.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received.slice(0, n);
  }

  /** Resolves once the broker has closed the connection; fails if it is still open after `timeoutMs`. */
  async expectClosedByBroker(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.closed.then(() => 'closed' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.socket.destroy();
    expect(outcome, 'the broker should close this connection').toBe('closed');
    expect(this.closedByPeer || this.isClosed).toBe(true);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function encodeRequest(apiKey: number, apiVersion: number, correlationId: number, body: unknown, clientId = 'kfk-robustness'): Buffer {
  const codec = API_CODECS.get(apiKey)!;
  const hv = requestHeaderVersion(apiKey, apiVersion);
  const header = { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId };
  const size = sizeRequestHeader(header, hv) + codec.sizeRequest(body, apiVersion);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codec.writeRequest(w, body, apiVersion);
  expect(w.pos).toBe(4 + size);
  return w.finish();
}

/** A header-only frame for an api key / version the generated codecs do not know (body bytes as given). */
function rawRequest(apiKey: number, apiVersion: number, correlationId: number, body = Buffer.alloc(0)): Buffer {
  const header = { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId: 'kfk-robustness' };
  const size = sizeRequestHeader(header, 1) + body.length;
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, 1);
  w.rawBytes(body);
  return w.finish();
}

function decodeResponse<T>(frame: Buffer, apiKey: number, apiVersion: number): { correlationId: number; body: T } {
  const r = new Reader(frame, 4);
  const { correlationId } = readResponseHeader(r, responseHeaderVersion(apiKey, apiVersion));
  const body = API_CODECS.get(apiKey)!.readResponse(r, apiVersion) as T;
  expect(r.remaining, 'response fully consumed').toBe(0);
  return { correlationId, body };
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure can be reproduced. */
function pseudoRandomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

async function endOffsets(topic: string): Promise<Record<string, number>> {
  const res = await python(KP, ['offsets', JSON.stringify({ bootstrap: broker.bootstrap, topic })], { timeoutMs: 30_000 });
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout.trim().split('\n').pop()!) as { end: Record<string, number> }).end;
}

function produceRequest(topic: string, records: Buffer, correlationId: number, version = 7): Buffer {
  const body = { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] };
  // the request is built with the generated writer for Produce directly, as the brief asks
  const header = { requestApiKey: 0, requestApiVersion: version, correlationId, clientId: 'kfk-robustness' };
  const hv = requestHeaderVersion(0, version);
  const size = sizeRequestHeader(header, hv) + sizeProduceRequest(body, version);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  writeProduceRequest(w, body, version);
  return w.finish();
}

async function createTopic(topic: string): Promise<void> {
  const c = await RawConnection.open(broker.port);
  try {
    await c.write(
      encodeRequest(19, 4, 1, { topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false }),
    );
    const [frame] = await c.frames(1);
    const { body } = decodeResponse<{ topics: { name: string; errorCode: number }[] }>(frame!, 19, 4);
    expect(body.topics).toMatchObject([{ name: topic, errorCode: 0 }]);
  } finally {
    c.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('connections the broker closes (and everyone else keeps being served)', () => {
  it(`a frame larger than socket.request.max.bytes (${SOCKET_REQUEST_MAX_BYTES})`, async () => {
    const c = await RawConnection.open(broker.port);
    const head = Buffer.alloc(4 + 64);
    head.writeInt32BE(SOCKET_REQUEST_MAX_BYTES + 1, 0);
    head.writeInt16BE(3, 4); // looks like a Metadata request
    await c.write(head);
    await c.expectClosedByBroker();
    expect(c.received).toEqual([]);
    await liveClientsStillWork();
  });

  it('a truncated frame followed by a close from the client', async () => {
    const c = await RawConnection.open(broker.port);
    const frame = encodeRequest(3, 1, 7, { topics: null });
    await c.write(frame.subarray(0, frame.length - 5));
    c.socket.end(); // half-close: the broker sees EOF in the middle of a frame
    await c.expectClosedByBroker();
    expect(c.received).toEqual([]);
    await liveClientsStillWork();
  });

  it('an unknown API key (9999)', async () => {
    const c = await RawConnection.open(broker.port);
    await c.write(rawRequest(9999, 0, 1, Buffer.alloc(8)));
    await c.expectClosedByBroker();
    expect(c.received).toEqual([]);
    await liveClientsStillWork();
  });

  it('an unsupported version of Metadata (v99)', async () => {
    const c = await RawConnection.open(broker.port);
    await c.write(rawRequest(3, 99, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00])));
    await c.expectClosedByBroker();
    expect(c.received).toEqual([]);
    await liveClientsStillWork();
  });

  it('1 KB of random garbage (negative size prefix)', async () => {
    const c = await RawConnection.open(broker.port);
    const garbage = pseudoRandomBytes(1024, 0xc0ffee);
    garbage[0] = garbage[0]! | 0x80; // size < 0
    await c.write(garbage);
    await c.expectClosedByBroker();
    expect(c.received).toEqual([]);
    await liveClientsStillWork();
  });

  it('1 KB of random garbage inside a well-formed frame (random header and body)', async () => {
    for (const seed of [1, 2, 3, 42, 4242]) {
      const c = await RawConnection.open(broker.port);
      const garbage = pseudoRandomBytes(1024, seed);
      garbage.writeInt32BE(1020, 0);
      // keep it garbage: never a valid ApiVersions request (which is answered even for unknown versions)
      if (garbage.readInt16BE(4) === 18) garbage.writeInt16BE(-18, 4);
      await c.write(garbage);
      await c.expectClosedByBroker();
      expect(c.received, `seed ${seed}: api key ${garbage.readInt16BE(4)} v${garbage.readInt16BE(6)}`).toEqual([]);
    }
    await liveClientsStillWork();
  });
});

describe('errors the broker answers', () => {
  it('ApiVersions v99 gets error 35 (UNSUPPORTED_VERSION) in a v0 body listing key 18, and the connection stays open', async () => {
    const c = await RawConnection.open(broker.port);
    try {
      await c.write(rawRequest(18, 99, 5, Buffer.from([0x00, 0x00, 0x00])));
      const [frame] = await c.frames(1);
      const r = new Reader(frame!, 4);
      expect(readResponseHeader(r, 0).correlationId).toBe(5);
      const body: ApiVersionsResponse = readApiVersionsResponse(r, 0);
      expect(r.remaining).toBe(0);
      expect(body.errorCode).toBe(35);
      expect(body.apiKeys).toContainEqual({ apiKey: 18, minVersion: 0, maxVersion: 3 });

      // the client can now retry with a supported version on the same connection
      await c.write(encodeRequest(18, 3, 6, { clientSoftwareName: 'kfk-robustness', clientSoftwareVersion: '1.0' }));
      const frames = await c.frames(2);
      const { correlationId, body: v3 } = decodeResponse<ApiVersionsResponse>(frames[1]!, 18, 3);
      expect(correlationId).toBe(6);
      expect(v3.errorCode).toBe(0);
      expect(v3.apiKeys.map((k) => k.apiKey)).toEqual(expect.arrayContaining([0, 1, 2, 3, 18, 19, 20]));
    } finally {
      c.destroy();
    }
  });

  it('Produce v7 with a corrupted CRC gets CORRUPT_MESSAGE (2) and appends nothing', async () => {
    const topic = 'robust-crc';
    await createTopic(topic);
    const c = await RawConnection.open(broker.port);
    try {
      const good = buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('first'), timestamp: 1_700_000_000_000 }]);
      await c.write(produceRequest(topic, good, 1));
      const [ok] = await c.frames(1);
      const okBody = decodeResponse<ProduceResponse>(ok!, 0, 7).body;
      expect(okBody.responses[0]!.partitionResponses[0]).toMatchObject({ index: 0, errorCode: 0, baseOffset: 0 });
      expect(await endOffsets(topic)).toEqual({ '0': 1 });

      const corrupt = buildRecordBatch([
        { key: Buffer.from('k'), value: Buffer.from('corrupted payload'), timestamp: 1_700_000_000_001 },
      ]);
      corrupt[corrupt.length - 3] = corrupt[corrupt.length - 3]! ^ 0xff; // inside the value: covered by the CRC (from byte 21)
      await c.write(produceRequest(topic, corrupt, 2));
      const frames = await c.frames(2);
      const { correlationId, body } = decodeResponse<ProduceResponse>(frames[1]!, 0, 7);
      expect(correlationId).toBe(2);
      expect(body.responses).toHaveLength(1);
      expect(body.responses[0]!.name).toBe(topic);
      expect(body.responses[0]!.partitionResponses).toHaveLength(1);
      expect(body.responses[0]!.partitionResponses[0]).toMatchObject({ index: 0, errorCode: 2, baseOffset: -1 });
      expect(await endOffsets(topic)).toEqual({ '0': 1 }); // ListOffsets latest unchanged

      // a corrupted header byte (attributes, offset 21..22) is covered too
      const corruptHeader = buildRecordBatch([{ key: null, value: Buffer.from('x'), timestamp: 1_700_000_000_002 }]);
      corruptHeader[22] = corruptHeader[22]! ^ 0x01; // compression none -> gzip, without a new CRC
      await c.write(produceRequest(topic, corruptHeader, 3));
      const third = (await c.frames(3))[2]!;
      expect(decodeResponse<ProduceResponse>(third, 0, 7).body.responses[0]!.partitionResponses[0]!.errorCode).toBe(2);
      expect(await endOffsets(topic)).toEqual({ '0': 1 });

      // the connection is still usable and the next good batch gets the next offset
      const next = buildRecordBatch([{ key: null, value: Buffer.from('second'), timestamp: 1_700_000_000_003 }]);
      await c.write(produceRequest(topic, next, 4));
      const fourth = (await c.frames(4))[3]!;
      expect(decodeResponse<ProduceResponse>(fourth, 0, 7).body.responses[0]!.partitionResponses[0]).toMatchObject({
        errorCode: 0,
        baseOffset: 1,
      });
      const read = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%o:%s\\n']);
      expect(read.stdout).toBe('0:first\n1:second\n');
    } finally {
      c.destroy();
    }
  });

  it(`a batch larger than message.max.bytes (${MESSAGE_MAX_BYTES}) gets MESSAGE_TOO_LARGE (10) and appends nothing`, async () => {
    const topic = 'robust-too-large';
    await createTopic(topic);
    const c = await RawConnection.open(broker.port);
    try {
      const big = buildRecordBatch([{ key: null, value: pseudoRandomBytes(MESSAGE_MAX_BYTES + 100, 7), timestamp: 1_700_000_000_000 }]);
      expect(big.length).toBeGreaterThan(MESSAGE_MAX_BYTES);
      await c.write(produceRequest(topic, big, 1));
      const [frame] = await c.frames(1);
      const { body } = decodeResponse<ProduceResponse>(frame!, 0, 7);
      expect(body.responses[0]!.partitionResponses[0]).toMatchObject({ index: 0, errorCode: 10 });
      expect(await endOffsets(topic)).toEqual({ '0': 0 });

      // just under the limit is fine
      const fits = buildRecordBatch([{ key: null, value: Buffer.alloc(MESSAGE_MAX_BYTES - 200, 0x61), timestamp: 1_700_000_000_000 }]);
      expect(fits.length).toBeLessThanOrEqual(MESSAGE_MAX_BYTES);
      await c.write(produceRequest(topic, fits, 2));
      const second = (await c.frames(2))[1]!;
      expect(decodeResponse<ProduceResponse>(second, 0, 7).body.responses[0]!.partitionResponses[0]).toMatchObject({
        errorCode: 0,
        baseOffset: 0,
      });
      expect(await endOffsets(topic)).toEqual({ '0': 1 });
    } finally {
      c.destroy();
    }
  });
});

describe('framing', () => {
  it('pipelined requests written in one TCP write are answered in order', async () => {
    const c = await RawConnection.open(broker.port);
    try {
      const requests: [number, number, unknown][] = [
        [18, 0, {}],
        [3, 0, { topics: [] }],
        [18, 3, { clientSoftwareName: 'kfk-robustness', clientSoftwareVersion: '1.0' }],
        [3, 1, { topics: [{ name: LIVE_TOPIC }] }],
        [2, 1, { replicaId: -1, topics: [{ name: LIVE_TOPIC, partitions: [{ partitionIndex: 0, timestamp: -2 }] }] }],
        [3, 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }],
        [18, 2, {}],
      ];
      const correlationIds = requests.map((_, i) => 100 + i * 3);
      await c.write(Buffer.concat(requests.map(([k, v, body], i) => encodeRequest(k, v, correlationIds[i]!, body))));
      const frames = await c.frames(requests.length);
      const decoded = frames.map((f, i) => decodeResponse<Record<string, unknown>>(f, requests[i]![0], requests[i]![1]));
      expect(decoded.map((d) => d.correlationId)).toEqual(correlationIds);
      expect((decoded[0]!.body as unknown as ApiVersionsResponse).errorCode).toBe(0);
      expect((decoded[3]!.body as { topics: { name: string; errorCode: number }[] }).topics).toMatchObject([{ name: LIVE_TOPIC, errorCode: 0 }]);
      expect(
        (decoded[4]!.body as { topics: { partitions: { errorCode: number; offset: number }[] }[] }).topics[0]!.partitions[0],
      ).toMatchObject({ errorCode: 0, offset: 0 });
    } finally {
      c.destroy();
    }
  });

  it('a request split into 1-byte writes is answered', async () => {
    const c = await RawConnection.open(broker.port);
    try {
      const frame = encodeRequest(3, 4, 77, { topics: [{ name: LIVE_TOPIC }], allowAutoTopicCreation: false });
      for (const byte of frame) {
        await c.write(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, 2)); // separate TCP segments
      }
      const [resp] = await c.frames(1);
      const { correlationId, body } = decodeResponse<{ topics: { name: string; errorCode: number; partitions: unknown[] }[] }>(resp!, 3, 4);
      expect(correlationId).toBe(77);
      expect(body.topics).toMatchObject([{ name: LIVE_TOPIC, errorCode: 0 }]);
      expect(body.topics[0]!.partitions).toHaveLength(1);
    } finally {
      c.destroy();
    }
  });

  it('the long-lived clients saw every record, in order', async () => {
    await liveClientsStillWork();
    await waitFor(() => liveConsumer.stdout().split('\n').filter(Boolean).length === liveCount + 1, {
      timeoutMs: 5000,
      message: 'all live records consumed',
    });
    expect(liveConsumer.stdout()).toBe(Array.from({ length: liveCount + 1 }, (_, i) => `live-${i}\n`).join(''));
  });
});
