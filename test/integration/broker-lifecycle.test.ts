/**
 * The broker as a process: data, topics and topic ids survive a clean restart and a kill -9
 * (kcat writes and reads), SIGTERM exits 0 after a clean shutdown, `kfk server stop` stops it,
 * and a long-polling fetch is woken by an append.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { kcat, kfk, makeTempDir, quietPeriod, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { readFetchResponse, writeFetchRequest, sizeFetchRequest } from '../../src/protocol/generated/fetch.js';
import { writeRequestHeader, sizeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

registerCleanup();

async function produce(b: BrokerProcess, topic: string, lines: string[]): Promise<void> {
  const r = await kcat(['-b', b.bootstrap, '-P', '-t', topic, '-X', 'acks=all'], { input: lines.map((l) => `${l}\n`).join('') });
  expect(r.code, r.stderr).toBe(0);
}

async function consumeAll(b: BrokerProcess, topic: string): Promise<string[]> {
  const r = await kcat(['-b', b.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p:%o:%s\n']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function describeAll(b: BrokerProcess): Promise<string> {
  const r = await kfk(['topics', '--bootstrap-server', b.bootstrap, '--describe']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('broker process lifecycle', () => {
  let broker: BrokerProcess;
  afterAll(async () => {
    if (broker && !broker.hasExited()) await broker.stop();
  });

  it('keeps topics, records and topic ids across a clean restart, and appends continue after them', async () => {
    broker = await startBrokerProcess({ overrides: { 'num.partitions': '3' } });
    const created = await kfk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'keep', '--partitions', '2', '--replication-factor', '1']);
    expect(created.code, created.stderr).toBe(0);
    await produce(broker, 'keep', ['a', 'b', 'c', 'd']);
    const before = await consumeAll(broker, 'keep');
    expect(before.map((l) => l.split(':')[2]).sort()).toEqual(['a', 'b', 'c', 'd']);
    const metadataFile = join(broker.dataDir, 'keep-0', 'partition.metadata');
    const idBefore = readFileSync(metadataFile, 'utf8');
    const describeBefore = await describeAll(broker);

    expect(await broker.stop()).toBe(0);
    expect(existsSync(join(broker.dataDir, '.kafka_cleanshutdown'))).toBe(true);
    broker = await broker.restart();

    expect(await consumeAll(broker, 'keep')).toEqual(before);
    expect(readFileSync(metadataFile, 'utf8')).toBe(idBefore);
    expect(await describeAll(broker)).toBe(describeBefore);
    await produce(broker, 'keep', ['e']);
    const after = await consumeAll(broker, 'keep');
    expect(after.length).toBe(5);
    // The new record's offset follows the old ones in its partition.
    const e = after.find((l) => l.endsWith(':e'))!;
    const [p, o] = e.split(':');
    const inPartition = before.filter((l) => l.startsWith(`${p}:`)).length;
    expect(Number(o)).toBe(inPartition);
  });

  it('loses no acknowledged record when killed with kill -9', async () => {
    await produce(broker, 'crash', Array.from({ length: 200 }, (_, i) => `r${i}`));
    await broker.kill9();
    broker = await broker.restart();
    const got = await consumeAll(broker, 'crash');
    expect(got.map((l) => l.split(':')[2]).sort()).toEqual(Array.from({ length: 200 }, (_, i) => `r${i}`).sort());
  });

  it('wakes a long-polling fetch when a record is appended', async () => {
    await produce(broker, 'poll', ['first']);
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = connect(broker.port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    try {
      // Fetch v4 at the log end offset of partition 0 with a 60 s max wait: only an append can answer it early.
      const partitions = (await consumeAll(broker, 'poll')).filter((l) => l.startsWith('0:')).length;
      const body = {
        replicaId: -1,
        maxWaitMs: 60_000,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        topics: [{ topic: 'poll', partitions: [{ partition: 0, fetchOffset: partitions, partitionMaxBytes: 1 << 20 }] }],
      };
      const header = { requestApiKey: 1, requestApiVersion: 4, correlationId: 7, clientId: 'test' };
      const size = sizeRequestHeader(header, 1) + sizeFetchRequest(body, 4);
      const w = Writer.alloc(4 + size);
      w.int32(size);
      writeRequestHeader(w, header, 1);
      writeFetchRequest(w, body, 4);
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.write(w.buf);
      // Nothing may come back before the append (a negative check: the fetch has had 300 ms to answer wrongly).
      await quietPeriod(300);
      expect(Buffer.concat(chunks).length).toBe(0);
      const r = await kcat(['-b', broker.bootstrap, '-P', '-t', 'poll', '-p', '0'], { input: 'woken\n' });
      expect(r.code).toBe(0);
      await waitFor(() => {
        const buf = Buffer.concat(chunks);
        return buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0);
      }, { timeoutMs: 20_000, message: 'fetch response' });
      const frame = Buffer.concat(chunks);
      const reader = new Reader(frame, 4);
      expect(reader.int32()).toBe(7);
      const res = readFetchResponse(reader, 4);
      const p0 = res.responses[0]!.partitions[0]!;
      expect(p0.errorCode).toBe(0);
      const values = decodeRecordBatches(p0.records!).flatMap((b) => b.records.map((x) => x.value!.toString()));
      expect(values).toEqual(['woken']);
    } finally {
      socket.destroy();
    }
  });

  it('exits 0 on SIGTERM with a clean-shutdown marker, and `kfk server stop` stops a running broker', async () => {
    expect(await broker.stop('SIGTERM')).toBe(0);
    expect(existsSync(join(broker.dataDir, '.kafka_cleanshutdown'))).toBe(true);
    // kafka-server-stop.sh stops every broker on the machine; a private TMPDIR (where kfk keeps its pid
    // files) keeps this test from stopping the brokers of other test files running in parallel.
    const pidScope = { TMPDIR: await makeTempDir('kfk-pids') };
    broker = await broker.restart({ env: pidScope });
    const stopped = await kfk(['server', 'stop'], { env: pidScope });
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor(() => broker.hasExited(), { timeoutMs: 20_000, message: 'broker exit after kfk server stop' });
    expect((await broker.exited).code).toBe(0);
  });
});
