/**
 * kcat 1.7.1 (librdkafka 2.0.2) against a kfk broker process: metadata listing, producing with keys, headers
 * and every compression codec, reading back exactly what was written, murmur2 key partitioning, consuming from
 * a timestamp (`-o s@<ms>`), acks=all/0, and consuming a topic that does not exist yet.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kcat, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { partitionForKey } from '../../src/client/partitioner.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

registerCleanup();

const PARTITIONS = 3;
let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess({ overrides: { 'num.partitions': String(PARTITIONS) } });
});

interface ConsumedRecord {
  key: string;
  value: string;
  headers: string;
  offset: number;
  partition: number;
  timestamp: number;
}

const FORMAT = '%k|%s|%h|%o|%p|%T\\n';

function parseConsumed(stdout: string): ConsumedRecord[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const parts = line.split('|');
      expect(parts, `unexpected kcat output line: ${line}`).toHaveLength(6);
      const [key, value, headers, offset, partition, timestamp] = parts as [string, string, string, string, string, string];
      return { key, value, headers, offset: Number(offset), partition: Number(partition), timestamp: Number(timestamp) };
    })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Reads the whole topic from the beginning with kcat and exits at the end of every partition. */
async function consumeAll(topic: string, extra: string[] = []): Promise<ConsumedRecord[]> {
  const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', FORMAT, ...extra]);
  expect(res.code, res.stderr).toBe(0);
  return parseConsumed(res.stdout);
}

async function produce(topic: string, lines: string[], extra: string[]): Promise<void> {
  const res = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, ...extra], { input: lines.join('\n') + '\n' });
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).not.toMatch(/ERROR|failed/i);
}

/** Groups the expected records by the partition murmur2 gives their key, numbering offsets per partition. */
function expectedByMurmur2(records: { key: string; value: string }[], headers: string): Omit<ConsumedRecord, 'timestamp'>[] {
  const next = new Array<number>(PARTITIONS).fill(0);
  return records
    .map((r) => {
      const partition = partitionForKey(Buffer.from(r.key), PARTITIONS);
      return { key: r.key, value: r.value, headers, partition, offset: next[partition]!++ };
    })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Compression codes of every batch in the topic's on-disk segments (Kafka's `<topic>-<p>/<offset>.log` layout). */
function storedCompressionCodes(topic: string): number[] {
  const codes: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = path.join(broker.dataDir, `${topic}-${p}`);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log'))) {
      codes.push(...decodeRecordBatches(fs.readFileSync(path.join(dir, f))).map((b) => b.compression));
    }
  }
  return codes;
}

function sampleRecords(tag: string, n = 12): { key: string; value: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `key-${tag}-${i}`,
    // values with spaces, a colon (only the first ':' splits key from value), non-ASCII text, and enough
    // repetition that every codec shrinks the batch (librdkafka sends a batch uncompressed when it does not)
    value: `value ${i} of ${tag}: ${'compressible text '.repeat(10 + i)} é€😀`,
  }));
}

describe('kcat -L', () => {
  it('lists the broker (as controller) and the topics with their partitions', async () => {
    await produce('kcat-list', ['a:1'], ['-K:']);
    const res = await kcat(['-b', broker.bootstrap, '-L', '-J']);
    expect(res.code, res.stderr).toBe(0);
    const meta = JSON.parse(res.stdout) as {
      controllerid: number;
      brokers: { id: number; name: string }[];
      topics: { topic: string; partitions: { partition: number; leader: number; replicas: { id: number }[] }[] }[];
    };
    expect(meta.brokers).toEqual([{ id: 0, name: broker.bootstrap }]);
    expect(meta.controllerid).toBe(0);
    const topic = meta.topics.find((t) => t.topic === 'kcat-list');
    expect(topic, res.stdout).toBeDefined();
    expect(topic!.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2]);
    for (const p of topic!.partitions) {
      expect(p.leader).toBe(0);
      expect(p.replicas).toEqual([{ id: 0 }]);
    }

    // plain text listing of one topic
    const text = await kcat(['-b', broker.bootstrap, '-L', '-t', 'kcat-list']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`broker 0 at ${broker.bootstrap} (controller)`);
    expect(text.stdout).toContain('topic "kcat-list" with 3 partitions');
  });
});

describe('kcat -P then -C with keys, headers and compression', () => {
  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
    it(`-z ${codec}: reads back keys, values, headers, offsets, and murmur2 partitions`, async () => {
      const topic = `kcat-codec-${codec}`;
      const records = sampleRecords(codec);
      const before = Date.now();
      await produce(
        topic,
        records.map((r) => `${r.key}:${r.value}`),
        ['-K:', '-H', 'h1=v1', '-H', `codec=${codec}`, '-z', codec, '-X', 'partitioner=murmur2_random', '-X', 'linger.ms=50'],
      );
      const after = Date.now();
      const got = await consumeAll(topic);
      expect(got.map(({ timestamp: _t, ...r }) => r)).toEqual(expectedByMurmur2(records, `h1=v1,codec=${codec}`));
      // CreateTime timestamps set by the producer are returned unchanged
      for (const r of got) {
        expect(r.timestamp).toBeGreaterThanOrEqual(before - 1000);
        expect(r.timestamp).toBeLessThanOrEqual(after + 1000);
      }
    });

    // librdkafka decides per batch whether the broker "supports" the codec from the advertised ApiVersions and
    // silently sends the batch uncompressed otherwise; the broker keeps the producer's compression (topic
    // compression.type=producer), so the stored batches show what kcat actually sent.
    // librdkafka <= 2.11 (rd_kafka_msgset_writer_select_MsgVersion) requires Produce v0 to be in the broker's
    // range for gzip, snappy and lz4, and lz4 additionally needs its LZ4 feature (FindCoordinator ∋ 0); zstd needs
    // Produce ∋ 7 and Fetch ∋ 10. With Produce advertised from v3 only, gzip/snappy/lz4 are sent uncompressed.
    it(`-z ${codec}: kcat really sends (and the broker stores) ${codec} batches`, async () => {
      const topic = `kcat-stored-${codec}`;
      const records = sampleRecords(`stored-${codec}`, 6);
      await produce(topic, records.map((r) => `${r.key}:${r.value}`), ['-K:', '-z', codec, '-X', 'linger.ms=50']);
      const codes = storedCompressionCodes(topic);
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes)).toEqual(new Set([CompressionType[codec]]));
    });
  }

  it('one large compressed batch (500 records, zstd) round-trips in order on one partition', async () => {
    const topic = 'kcat-big-batch';
    const lines = Array.from({ length: 500 }, (_, i) => `k:${i}-${'payload'.repeat(20)}`);
    await produce(topic, lines, ['-K:', '-z', 'zstd', '-X', 'partitioner=murmur2_random', '-X', 'linger.ms=200']);
    const got = await consumeAll(topic);
    const p = partitionForKey(Buffer.from('k'), PARTITIONS);
    expect(got).toHaveLength(500);
    expect(got.every((r) => r.partition === p)).toBe(true);
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(got.map((r) => r.value)).toEqual(lines.map((l) => l.slice(2)));
  });

  it('explicit partition (-p) and a consumer starting at an offset (-o 2) in the middle of a batch', async () => {
    const topic = 'kcat-partition';
    await produce(topic, ['a', 'b', 'c', 'd', 'e'], ['-p', '2', '-X', 'linger.ms=50']);
    const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-p', '2', '-o', '2', '-e', '-q', '-f', '%o:%s\\n']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('2:c\n3:d\n4:e\n');
  });
});

// Consuming from a timestamp: librdkafka resolves `-o s@<ms>` with ListOffsets by time.
it('-o s@<timestamp> starts at the first record at/after the timestamp', async () => {
  const topic = 'kcat-by-time';
  await produce(topic, ['old-0', 'old-1', 'old-2'], ['-p', '0']);
  const read = async (offsetSpec: string, format = '%o:%s\\n'): Promise<string> => {
    const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-p', '0', '-o', offsetSpec, '-e', '-q', '-f', format]);
    expect(res.code, res.stderr).toBe(0);
    return res.stdout;
  };
  // A timestamp after every old record's CreateTime (kcat %T), and new records produced once the clock has passed it.
  const between = Math.max(...(await read('beginning', '%T\\n')).trim().split('\n').map(Number)) + 1;
  await waitFor(() => Date.now() > between, { message: "the clock to pass the old records' timestamps" });
  await produce(topic, ['new-3', 'new-4'], ['-p', '0']);
  expect(await read(`s@${between}`)).toBe('3:new-3\n4:new-4\n');
  // a timestamp before everything starts at the first record; one after everything finds no offset (the end)
  expect(await read('s@1')).toBe('0:old-0\n1:old-1\n2:old-2\n3:new-3\n4:new-4\n');
  expect(await read(`s@${Date.now() + 3_600_000}`)).toBe('');
});

describe('acks', () => {
  it('-X acks=all: every record is acknowledged and readable', async () => {
    const topic = 'kcat-acks-all';
    const records = sampleRecords('all', 6);
    await produce(
      topic,
      records.map((r) => `${r.key}:${r.value}`),
      ['-K:', '-X', 'acks=all', '-X', 'partitioner=murmur2_random', '-H', 'a=1'],
    );
    const got = await consumeAll(topic);
    expect(got.map(({ timestamp: _t, ...r }) => r)).toEqual(expectedByMurmur2(records, 'a=1'));
  });

  it('-X acks=0: records are appended although the broker sends no response', async () => {
    const topic = 'kcat-acks-0';
    const records = sampleRecords('zero', 6);
    await produce(
      topic,
      records.map((r) => `${r.key}:${r.value}`),
      ['-K:', '-X', 'acks=0', '-X', 'partitioner=murmur2_random', '-H', 'a=0'],
    );
    // With acks=0 the producer exits as soon as the bytes are written: poll until everything is there.
    let got: ConsumedRecord[] = [];
    await waitFor(
      async () => {
        got = await consumeAll(topic);
        return got.length >= records.length;
      },
      { timeoutMs: 15_000, intervalMs: 200, message: 'acks=0 records to be readable' },
    );
    expect(got.map(({ timestamp: _t, ...r }) => r)).toEqual(expectedByMurmur2(records, 'a=0'));
  });
});

describe('consuming a topic that does not exist', () => {
  it('with allow.auto.create.topics=true the topic is created and the consumer reaches its end', async () => {
    const topic = 'kcat-auto-created';
    const res = await kcat([
      '-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%s\\n', '-X', 'allow.auto.create.topics=true',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('');
    for (let p = 0; p < PARTITIONS; p++) expect(res.stderr).toContain(`Reached end of topic ${topic} [${p}] at offset 0`);
    const meta = await kcat(['-b', broker.bootstrap, '-L', '-J', '-t', topic]);
    const t = (JSON.parse(meta.stdout) as { topics: { topic: string; partitions: unknown[]; error?: string }[] }).topics[0]!;
    expect(t.topic).toBe(topic);
    expect(t.error).toBeUndefined();
    expect(t.partitions).toHaveLength(PARTITIONS);

    // the auto-created topic is usable
    await produce(topic, ['k:v'], ['-K:', '-X', 'partitioner=murmur2_random']);
    const got = await consumeAll(topic);
    expect(got.map((r) => [r.key, r.value, r.partition, r.offset])).toEqual([['k', 'v', partitionForKey(Buffer.from('k'), 3), 0]]);
  });

  it('without it (librdkafka consumer default) the broker answers UNKNOWN_TOPIC_OR_PARTITION and creates nothing', async () => {
    const topic = 'kcat-not-created';
    const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%s\\n'], { timeoutMs: 20_000 });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('Unknown topic or partition');
    const meta = await kcat(['-b', broker.bootstrap, '-L', '-J']);
    expect((JSON.parse(meta.stdout) as { topics: { topic: string }[] }).topics.map((t) => t.topic)).not.toContain(topic);
  });
});
