/**
 * The idempotent producer against a kfk broker process: InitProducerId, a hand-built duplicate Produce v7
 * answered with its original offset and stored once, sequence gaps and stale epochs refused; librdkafka
 * (kcat and confluent-kafka-python with enable.idempotence) producing while the broker is killed with
 * SIGKILL and restarted on the same port and data dir: every acknowledged record is in the log exactly once
 * and in order per partition; kafkajs' idempotent producer (its InitProducerId goes to the controller).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import {
  FrameSplitter,
  freePort,
  REPO_ROOT,
  SYSTEM_PYTHON,
  kcat,
  registerCleanup,
  sleep,
  spawnProcess,
  startBrokerProcess,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { readResponseHeader } from '../../src/protocol/generated/response-header.js';
import { sizeRequestHeader, writeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { sizeProduceRequest, writeProduceRequest, type ProduceResponse } from '../../src/protocol/generated/produce.js';
import type { InitProducerIdResponse } from '../../src/protocol/generated/init-producer-id.js';
import { buildRecordBatch, decodeRecordBatches, type DecodedBatch } from '../../src/protocol/records.js';
import { ErrorCode } from '../../src/protocol/errors.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
registerCleanup();

const CK_IDEMPOTENT = path.join(REPO_ROOT, 'test', 'clients', 'ck_idempotent.py');

// ---- a minimal raw connection -----------------------------------------------------------------------------

class Raw {
  private readonly splitter = new FrameSplitter();
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | null = null;
  private correlationId = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(...this.splitter.push(chunk));
      this.waiter?.();
    });
    socket.on('close', () => this.waiter?.());
  }

  static open(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  /** Sends one request and returns the decoded response body. */
  async request<T>(apiKey: number, version: number, body: unknown): Promise<T> {
    const codec = API_CODECS.get(apiKey)!;
    const correlationId = ++this.correlationId;
    const hv = requestHeaderVersion(apiKey, version);
    const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'kfk-idempotence' };
    const bodySize = Buffer.isBuffer(body)
      ? body.length
      : apiKey === 0
        ? sizeProduceRequest(body as never, version)
        : codec.sizeRequest(body, version);
    const size = sizeRequestHeader(header, hv) + bodySize;
    const w = Writer.alloc(4 + size);
    w.int32(size);
    writeRequestHeader(w, header, hv);
    // Produce is written with the generated writer for Produce itself; a Buffer body is sent as it is
    if (Buffer.isBuffer(body)) w.rawBytes(body);
    else if (apiKey === 0) writeProduceRequest(w, body as never, version);
    else codec.writeRequest(w, body, version);
    this.socket.write(w.finish());
    const deadline = Date.now() + 10_000;
    while (this.frames.length === 0) {
      if (this.socket.destroyed || Date.now() > deadline) throw new Error('no response');
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
    }
    const frame = this.frames.shift()!;
    const r = new Reader(frame, 4);
    expect(readResponseHeader(r, responseHeaderVersion(apiKey, version)).correlationId).toBe(correlationId);
    return codec.readResponse(r, version) as T;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * An InitProducerId body by hand: the generated writer sends a null transactional id as "" (which Kafka and
 * kfk answer with INVALID_REQUEST), so a null one is encoded here as clients do (int16 -1, or compact 0 from v2).
 */
function initProducerIdBody(version: number, transactionalId: string | null, producerId = -1, producerEpoch = -1): Buffer {
  const w = Writer.alloc(256);
  if (version >= 2) {
    if (transactionalId === null) w.uvarint(0);
    else w.compactString(transactionalId);
  } else w.string(transactionalId);
  w.int32(transactionalId === null ? -1 : 60_000);
  if (version >= 3) {
    w.int64(producerId);
    w.int16(producerEpoch);
  }
  if (version >= 2) w.uvarint(0);
  return Buffer.from(w.finish());
}

async function createTopic(port: number, name: string, numPartitions: number): Promise<void> {
  const c = await Raw.open(port);
  try {
    const res = await c.request<{ topics: { name: string; errorCode: number }[] }>(19, 4, {
      topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(res.topics).toMatchObject([{ name, errorCode: 0 }]);
  } finally {
    c.close();
  }
}

/** Every stored batch of a partition, from its segment files. */
function storedBatches(dataDir: string, topic: string, partition: number): DecodedBatch[] {
  const dir = path.join(dataDir, `${topic}-${partition}`);
  const out: DecodedBatch[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort()) {
    const buf = fs.readFileSync(path.join(dir, f));
    if (buf.length > 0) out.push(...decodeRecordBatches(buf));
  }
  return out;
}

/** Reads a whole topic with kcat: per partition, the values in offset order. */
async function readBack(bootstrap: string, topic: string): Promise<Map<number, { offset: number; value: string }[]>> {
  const res = await kcat(['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p|%o|%s\\n'], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  const out = new Map<number, { offset: number; value: string }[]>();
  for (const line of res.stdout.split('\n')) {
    if (line === '') continue;
    const [p, o, v] = line.split('|') as [string, string, string];
    const list = out.get(Number(p)) ?? [];
    list.push({ offset: Number(o), value: v });
    out.set(Number(p), list);
  }
  for (const list of out.values()) list.sort((a, b) => a.offset - b.offset);
  return out;
}

/**
 * The read-back holds exactly the records 0..count-1 (values `m-<i>`), each once,
 * in production order within each partition (librdkafka's default partitioner hashes keys with CRC32, so
 * which partition is not checked here).
 */
function expectExactlyOnceInOrder(read: Map<number, { offset: number; value: string }[]>, count: number): void {
  const seen = new Set<number>();
  for (const [p, list] of read) {
    let prev = -1;
    for (const { value } of list) {
      const i = Number(value.slice(2));
      expect(seen.has(i), `duplicate of m-${i}`).toBe(false);
      seen.add(i);
      expect(i, `m-${i} after m-${prev} in partition ${p}`).toBeGreaterThan(prev);
      prev = i;
    }
  }
  expect(seen.size).toBe(count);
}

/**
 * A TCP proxy in front of the broker (which advertises the proxy's port). `dropResponses()` keeps forwarding
 * requests but throws the broker's answers away, so batches get written without the client hearing of it;
 * `cut()` then closes every connection and forwards normally again. The client's retries of those batches
 * are what the broker must recognise as duplicates.
 */
class LossyProxy {
  private readonly sockets = new Set<net.Socket>();
  private dropping = false;
  /** While set, new connections are closed at once (the broker is restarting). */
  refusing = false;
  /** Connections closed at once while refusing: the client trying to reconnect. */
  refused = 0;
  /** Response bytes thrown away while dropping. */
  dropped = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: () => number): Promise<LossyProxy> {
    let proxy: LossyProxy | undefined;
    const server = net.createServer((client) => {
      if (proxy!.refusing) {
        proxy!.refused++;
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort(), '127.0.0.1');
      const all = proxy!.sockets;
      all.add(client);
      all.add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (proxy!.dropping) proxy!.dropped += d.length;
        else client.write(d);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        all.delete(client);
        all.delete(upstream);
      };
      for (const sock of [client, upstream]) {
        sock.on('error', close);
        sock.on('close', close);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = new LossyProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  dropResponses(): void {
    this.dropping = true;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.dropping = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Starts a broker behind a LossyProxy: clients bootstrap from and are sent to the proxy. */
async function startBehindProxy(overrides: Record<string, string>): Promise<{ proxy: LossyProxy; bootstrap: string }> {
  const port = await freePort();
  const proxy = await LossyProxy.start(() => port);
  broker = await startBrokerProcess({ port, overrides: { ...overrides, 'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxy.port}` } });
  return { proxy, bootstrap: `127.0.0.1:${proxy.port}` };
}

/**
 * The crash under load: answers stop reaching the client while the broker keeps appending, then the broker
 * is killed with SIGKILL, every connection cut, and the broker restarted on the same port and data dir.
 */
async function crashUnderLoad(proxy: LossyProxy, stored: () => number): Promise<void> {
  const before = stored();
  const droppedBefore = proxy.dropped;
  proxy.dropResponses();
  // Something was written and its acknowledgement never reached the client.
  await waitFor(() => stored() > before && proxy.dropped > droppedBefore, { timeoutMs: 15_000, message: 'an unacknowledged write' });
  await broker!.kill9();
  const refusedBefore = proxy.refused;
  proxy.refusing = true;
  proxy.cut();
  // The client noticed and is reconnecting (to retry its unacknowledged batches) while the broker is down.
  await waitFor(() => proxy.refused > refusedBefore, { timeoutMs: 15_000, message: 'the client to try to reconnect' });
  broker = await broker!.restart();
  // Clients get in only once the broker has printed its started line: a broker that is listening but has not
  // yet read its topics from the registry answers Metadata without them, and librdkafka then fails the queued
  // messages of that topic with "Unknown topic" (see the report on the start-up order in Broker.start).
  proxy.refusing = false;
}

/** Bytes in a partition's segment files. */
function storedBytes(dataDir: string, topic: string, partition: number): number {
  const dir = path.join(dataDir, `${topic}-${partition}`);
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).filter((f) => f.endsWith('.log')).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

let broker: BrokerProcess | undefined;
afterAll(async () => {
  await broker?.stop().catch(() => undefined);
});

describe('InitProducerId and duplicate batches on a raw socket', () => {
  it('gives producer ids, answers a duplicate Produce v7 with the same offset, refuses gaps and stale epochs', async () => {
    broker = await startBrokerProcess();
    const topic = 'idem-raw';
    await createTopic(broker.port, topic, 1);
    const c = await Raw.open(broker.port);
    try {
      const a = await c.request<InitProducerIdResponse>(22, 4, initProducerIdBody(4, null));
      const b = await c.request<InitProducerIdResponse>(22, 0, initProducerIdBody(0, null));
      expect(a).toMatchObject({ errorCode: 0, producerEpoch: 0 });
      expect(b).toMatchObject({ errorCode: 0, producerId: a.producerId + 1, producerEpoch: 0 });
      const txn = await c.request<InitProducerIdResponse>(22, 5, initProducerIdBody(5, 'tx'));
      expect(txn).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR, producerId: -1 });
      const half = await c.request<InitProducerIdResponse>(22, 3, initProducerIdBody(3, null, 5, -1));
      expect(half.errorCode).toBe(ErrorCode.INVALID_REQUEST);
      const empty = await c.request<InitProducerIdResponse>(22, 1, initProducerIdBody(1, ''));
      expect(empty.errorCode).toBe(ErrorCode.INVALID_REQUEST);
      // KIP-360: an idempotent producer's current id/epoch gets a fresh id, as Kafka answers
      const bumped = await c.request<InitProducerIdResponse>(22, 3, initProducerIdBody(3, null, b.producerId, 0));
      expect(bumped).toMatchObject({ errorCode: 0, producerId: b.producerId + 1, producerEpoch: 0 });
      expect(half.errorCode).toBe(ErrorCode.INVALID_REQUEST);

      const pid = a.producerId;
      const produce = async (records: Buffer) => {
        const res = await c.request<ProduceResponse>(0, 7, {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
        });
        return res.responses[0]!.partitionResponses[0]!;
      };
      const batch = (seq: number, n: number, epoch = 0) =>
        buildRecordBatch(
          Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`s${seq + i}`), timestamp: 1_700_000_000_000 })),
          { producerId: pid, producerEpoch: epoch, baseSequence: seq },
        );
      expect(await produce(batch(0, 3))).toMatchObject({ errorCode: 0, baseOffset: 0 });
      expect(await produce(batch(0, 3))).toMatchObject({ errorCode: 0, baseOffset: 0 }); // the retry
      expect(await produce(batch(3, 2))).toMatchObject({ errorCode: 0, baseOffset: 3 });
      expect(await produce(batch(0, 3))).toMatchObject({ errorCode: 0, baseOffset: 0 }); // still cached
      expect(await produce(batch(6, 1))).toMatchObject({ errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
      expect(await produce(batch(0, 1, 1))).toMatchObject({ errorCode: 0, baseOffset: 5 }); // new epoch at 0
      expect(await produce(batch(5, 1, 0))).toMatchObject({ errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });

      const read = await readBack(broker.bootstrap, topic);
      expect(read.get(0)!.map((r) => r.value)).toEqual(['s0', 's1', 's2', 's3', 's4', 's0']);

      // after a kill -9 and restart the state is rebuilt from the log: the retry is still recognised
      await broker.kill9();
      broker = await broker.restart();
      const c2 = await Raw.open(broker.port);
      try {
        const res = await c2.request<ProduceResponse>(0, 7, {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ name: topic, partitionData: [{ index: 0, records: batch(3, 2) }] }],
        });
        expect(res.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
        const again = await c2.request<ProduceResponse>(0, 7, {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ name: topic, partitionData: [{ index: 0, records: batch(0, 1, 1) }] }],
        });
        expect(again.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 5 });
        // a new InitProducerId after the restart does not reuse an id: the next block is taken
        const d = await c2.request<InitProducerIdResponse>(22, 4, initProducerIdBody(4, null));
        expect(d.errorCode).toBe(0);
        expect(d.producerId).toBeGreaterThan(b.producerId);
      } finally {
        c2.close();
      }
      expect(storedBatches(broker.dataDir, topic, 0).map((x) => [x.baseOffset, x.producerEpoch, x.baseSequence])).toEqual([
        [0, 0, 0],
        [3, 0, 3],
        [5, 1, 0],
      ]);
      await broker.stop();
      broker = undefined;
    } finally {
      c.close();
    }
  }, 60_000);
});

describe('librdkafka with enable.idempotence=true while the broker is killed and restarted', () => {
  it('confluent-kafka-python: every acknowledged record exactly once, in order', async () => {
    const PARTITIONS = 3;
    const { proxy, bootstrap } = await startBehindProxy({ 'num.partitions': String(PARTITIONS), 'log.segment.bytes': '65536' });
    const topic = 'idem-ck';
    await createTopic(broker!.port, topic, PARTITIONS);
    const stored = () => storedBytes(broker!.dataDir, topic, 0) + storedBytes(broker!.dataDir, topic, 1) + storedBytes(broker!.dataDir, topic, 2);
    const producer = spawnProcess(
      SYSTEM_PYTHON,
      [CK_IDEMPOTENT, JSON.stringify({ bootstrap, topic, max_count: 200_000, pause_every: 20, pause_ms: 3 })],
      { env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' }, keepStdinOpen: true },
    );
    await producer.waitForOutput('ready\n', { timeoutMs: 30_000 });
    // it produces until told to stop: crash the broker twice under that load, 2000 and 4000 acks in
    for (const acks of [2000, 4000]) {
      await producer.waitForOutput(`acked ${acks}\n`, { timeoutMs: 30_000 });
      await crashUnderLoad(proxy, stored);
    }
    await producer.waitForOutput('acked 6000\n', { timeoutMs: 30_000 });
    producer.write('stop\n');
    const res = await producer.exited;
    expect(proxy.dropped).toBeGreaterThan(0);
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout.trim().split('\n').pop()!) as {
      produced: number;
      acked: [number, number, number][];
      errors: unknown[];
      unflushed: number;
    };
    expect(summary.errors).toEqual([]);
    expect(summary.unflushed).toBe(0);
    expect(summary.acked.length).toBe(summary.produced);

    const read = await readBack(bootstrap, topic);
    await proxy.close();
    expectExactlyOnceInOrder(read, summary.produced);
    // each acknowledged offset holds the record it was acknowledged for
    const at = new Map<string, string>();
    for (const [p, list] of read) for (const r of list) at.set(`${p}:${r.offset}`, r.value);
    for (const [i, p, o] of summary.acked) expect(at.get(`${p}:${o}`), `ack of m-${i}`).toBe(`m-${i}`);
    // and the log holds idempotent batches from one producer id
    const pids = new Set(storedBatches(broker!.dataDir, topic, 0).map((b) => b.producerId));
    expect(pids.size).toBe(1);
    expect([...pids][0]).toBeGreaterThanOrEqual(0);
    await broker!.stop();
    broker = undefined;
  }, 90_000);

  it('kcat -X enable.idempotence=true: every record exactly once, in order', async () => {
    const PARTITIONS = 3;
    const MAX_COUNT = 40_000;
    const { proxy, bootstrap } = await startBehindProxy({ 'num.partitions': String(PARTITIONS), 'log.segment.bytes': '65536' });
    const topic = 'idem-kcat';
    await createTopic(broker!.port, topic, PARTITIONS);
    const producer = spawnProcess(
      'kcat',
      ['-b', bootstrap, '-P', '-E', '-t', topic, '-K', ':', '-X', 'enable.idempotence=true', '-X', 'linger.ms=5', '-X', 'batch.num.messages=50',
        '-X', 'reconnect.backoff.ms=100', '-X', 'reconnect.backoff.max.ms=500', '-X', 'retry.backoff.ms=100'],
      { keepStdinOpen: true },
    );
    // feed lines every 25 ms until the broker has crashed twice under this load (and at least 10 000 lines)
    const stored = () => storedBytes(broker!.dataDir, topic, 0) + storedBytes(broker!.dataDir, topic, 1) + storedBytes(broker!.dataDir, topic, 2);
    const CHUNK = 100;
    let fed = 0;
    let killed = 0;
    const feeding = (async () => {
      while (fed < MAX_COUNT && !(killed >= 2 && fed >= 10_000)) {
        let lines = '';
        for (let j = fed; j < fed + CHUNK; j++) lines += `k-${j}:m-${j}\n`;
        producer.write(lines);
        fed += CHUNK;
        await sleep(25); // pacing the load (not synchronisation): a steady stream while the broker crashes
      }
      producer.end();
    })();
    for (const after of [4000, 3000]) {
      const from = fed;
      await waitFor(() => fed >= from + after, { timeoutMs: 30_000 });
      await crashUnderLoad(proxy, stored);
      killed++;
    }
    await feeding;
    const res = await producer.exited;
    expect(killed).toBe(2);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toMatch(/delivery failed|fatal/i);
    expect(proxy.dropped).toBeGreaterThan(0);
    const read = await readBack(bootstrap, topic);
    await proxy.close();
    expectExactlyOnceInOrder(read, fed);
    expect(storedBatches(broker!.dataDir, topic, 0).every((b) => b.producerId >= 0)).toBe(true);
    await broker!.stop();
    broker = undefined;
  }, 90_000);
});

describe('kafkajs idempotent producer', () => {
  it('gets its producer id from the controller and produces in sequence', async () => {
    broker = await startBrokerProcess();
    const topic = 'idem-kafkajs';
    await createTopic(broker.port, topic, 1);
    const kafka = new Kafka({ clientId: 'kfk-idem', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    try {
      for (let i = 0; i < 5; i++) {
        const [r] = await producer.send({ topic, messages: Array.from({ length: 3 }, (_, j) => ({ value: `m-${i * 3 + j}` })) });
        expect(r).toMatchObject({ errorCode: 0, baseOffset: String(i * 3) });
      }
    } finally {
      await producer.disconnect();
    }
    const batches = storedBatches(broker.dataDir, topic, 0);
    expect(batches.map((b) => b.baseSequence)).toEqual([0, 3, 6, 9, 12]);
    expect(new Set(batches.map((b) => b.producerId)).size).toBe(1);
    expect(batches[0]!.producerId).toBeGreaterThanOrEqual(0);
    expect((await readBack(broker.bootstrap, topic)).get(0)!.map((r) => r.value)).toEqual(Array.from({ length: 15 }, (_, i) => `m-${i}`));
    await broker.stop();
    broker = undefined;
  }, 60_000);
});
