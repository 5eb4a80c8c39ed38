/**
 * Issue 13 end to end: one broker under `ulimit -n 1024` holding thousands of partitions (10,000 with
 * `npm run test:scale`; CI runs KFK_SCALE_PARTITIONS, default 3,000, which is already 9,000 segment and index
 * files, nine times the limit), created with `kfk topics --create`, records produced to and consumed from a sample
 * of them with kcat, a clean restart and a kill -9 restart, and every partition served again (kafka-python's
 * end_offsets over all of them). The descriptors the broker holds are read from /proc/<pid>/fd and must stay
 * under the limit. Times, RSS and descriptors are printed, never asserted (docs/benchmarks.md has the figures).
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kcat, kfk, pythonCode, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';
import { rssBytes } from '../helpers/raw-client.js';
import { skipUnless } from '../helpers/skip.js';

registerCleanup();

const LIMIT = 1024;
const TOTAL = Number(process.env.KFK_SCALE_PARTITIONS ?? 3000);
const PER_TOPIC = 1000;
const TOPICS = Array.from({ length: Math.ceil(TOTAL / PER_TOPIC) }, (_, i) => `scale-${i}`);
const partitionsOf = (i: number): number => Math.min(PER_TOPIC, TOTAL - i * PER_TOPIC);
/** Partitions written to and read back: spread over every topic, first and last included. */
const SAMPLE: { topic: string; partition: number }[] = TOPICS.flatMap((topic, i) =>
  [0, 137, 501, partitionsOf(i) - 1].filter((p) => p < partitionsOf(i)).map((partition) => ({ topic, partition })),
);
const linux = process.platform === 'linux';

let broker: BrokerProcess;
const figures: Record<string, string | number> = {};

function descriptors(b: BrokerProcess): number {
  return fs.readdirSync(`/proc/${b.pid}/fd`).length;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** kafka-python: the end offset of every partition of every scale topic (fails unless each one answers). */
const END_OFFSETS = `
import json, sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], request_timeout_ms=120000, group_id=None, enable_auto_commit=False)
topics = sys.argv[2].split(',')
known = c.topics()
parts = []
for t in topics:
    ps = c.partitions_for_topic(t)
    if not ps:
        sys.exit('no partitions for ' + t)
    parts += [TopicPartition(t, p) for p in ps]
ends = c.end_offsets(parts)
c.close()
print(json.dumps({'partitions': len(ends), 'nonzero': {tp.topic + '-' + str(tp.partition): o for tp, o in ends.items() if o != 0}}))
`;

async function endOffsets(b: BrokerProcess): Promise<{ partitions: number; nonzero: Record<string, number> }> {
  const res = await pythonCode(END_OFFSETS, [b.bootstrap, TOPICS.join(',')], { timeoutMs: 180_000 });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as { partitions: number; nonzero: Record<string, number> };
}

async function produceSample(b: BrokerProcess, tag: string): Promise<void> {
  await Promise.all(
    SAMPLE.map(async ({ topic, partition }) => {
      const res = await kcat(['-P', '-b', b.bootstrap, '-t', topic, '-p', String(partition)], { input: `${tag}-${topic}-${partition}\n`, timeoutMs: 60_000 });
      expect(res.code, res.stderr).toBe(0);
    }),
  );
}

async function consumeSample(b: BrokerProcess): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await Promise.all(
    SAMPLE.map(async ({ topic, partition }) => {
      const res = await kcat(['-C', '-b', b.bootstrap, '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-q'], { timeoutMs: 60_000 });
      expect(res.code, res.stderr).toBe(0);
      out.set(`${topic}-${partition}`, res.stdout.split('\n').filter((l) => l !== ''));
    }),
  );
  return out;
}

function expectSample(read: Map<string, string[]>, tags: string[]): void {
  for (const { topic, partition } of SAMPLE) expect(read.get(`${topic}-${partition}`)).toEqual(tags.map((t) => `${t}-${topic}-${partition}`));
}

function expectOffsets(ends: { partitions: number; nonzero: Record<string, number> }, perSampled: number): void {
  expect(ends.partitions).toBe(TOTAL);
  expect(ends.nonzero).toEqual(Object.fromEntries(SAMPLE.map(({ topic, partition }) => [`${topic}-${partition}`, perSampled])));
}

describe(`${TOTAL} partitions on one broker under ulimit -n ${LIMIT}`, skipUnless(linux, 'counts descriptors in /proc/<pid>/fd'), () => {
  beforeAll(async () => {
    broker = await startBrokerProcess({ openFileLimit: LIMIT, timeoutMs: 60_000 });
  });

  afterAll(() => {
    // eslint-disable-next-line no-console
    console.log(`scale figures (${TOTAL} partitions, ulimit -n ${LIMIT}): ${JSON.stringify(figures)}`);
  });

  it('creates the topics, holding fewer descriptors than the limit', { timeout: 300_000 }, async () => {
    expect(broker.stdout() + broker.stderr()).toMatch(new RegExp(`open file limit ${LIMIT} \\(hard ${LIMIT}.*at most 768 files open`));
    const t0 = performance.now();
    for (const [i, topic] of TOPICS.entries()) {
      const res = await kfk(['topics', '--create', '--topic', topic, '--partitions', String(partitionsOf(i)), '--bootstrap-server', broker.bootstrap], { timeoutMs: 120_000 });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain(`Created topic ${topic}.`);
    }
    figures.createSeconds = seconds(performance.now() - t0);
    figures.descriptorsAfterCreate = descriptors(broker);
    expect(descriptors(broker)).toBeLessThan(LIMIT);
    // every partition has its leader (no "already exists" now and "does not exist" later)
    const meta = await kcat(['-L', '-b', broker.bootstrap, '-J'], { timeoutMs: 60_000 });
    expect(meta.code, meta.stderr).toBe(0);
    const topics = (JSON.parse(meta.stdout) as { topics: { topic: string; partitions: { leader: number }[] }[] }).topics;
    for (const [i, topic] of TOPICS.entries()) {
      const t = topics.find((x) => x.topic === topic)!;
      expect(t.partitions).toHaveLength(partitionsOf(i));
      expect(t.partitions.every((p) => p.leader === 0)).toBe(true);
    }
    expect(broker.stdout() + broker.stderr()).not.toMatch(/EMFILE|is offline|cannot serve/);
  });

  it('produces to and consumes from a sample of the partitions with kcat', { timeout: 180_000 }, async () => {
    await produceSample(broker, 'first');
    expectSample(await consumeSample(broker), ['first']);
    figures.rssMiB = Math.round((await rssBytes(broker.pid!)) / 1048576);
    figures.descriptorsAfterTraffic = descriptors(broker);
    expect(descriptors(broker)).toBeLessThan(LIMIT);
  });

  it('serves every partition again after a clean restart', { timeout: 240_000 }, async () => {
    const stopT0 = performance.now();
    expect(await broker.stop()).toBe(0);
    figures.cleanStopSeconds = seconds(performance.now() - stopT0);
    const t0 = performance.now();
    broker = await startBrokerProcess({ port: broker.port, dataDir: broker.dataDir, openFileLimit: LIMIT, timeoutMs: 120_000 });
    figures.cleanRestartToStartedSeconds = seconds(performance.now() - t0);
    expectOffsets(await endOffsets(broker), 1);
    figures.cleanRestartToServingSeconds = seconds(performance.now() - t0);
    // a clean restart reads no segment: the log holds (next to nothing) until traffic comes
    figures.descriptorsAfterCleanRestart = descriptors(broker);
    expect(descriptors(broker)).toBeLessThan(100);
    await produceSample(broker, 'second');
    expectSample(await consumeSample(broker), ['first', 'second']);
  });

  it('serves every partition again after kill -9, recovering in the background', { timeout: 240_000 }, async () => {
    await broker.kill9();
    const t0 = performance.now();
    broker = await startBrokerProcess({ port: broker.port, dataDir: broker.dataDir, openFileLimit: LIMIT, timeoutMs: 120_000 });
    figures.kill9RestartToStartedSeconds = seconds(performance.now() - t0);
    expect(broker.stdout() + broker.stderr()).toMatch(/log\(s\) to recover after an unclean shutdown/);
    expectSample(await consumeSample(broker), ['first', 'second']);
    figures.kill9RestartToSampleServedSeconds = seconds(performance.now() - t0);
    expectOffsets(await endOffsets(broker), 2);
    figures.kill9RestartToServingSeconds = seconds(performance.now() - t0);
    figures.descriptorsAfterKill9Restart = descriptors(broker);
    expect(descriptors(broker)).toBeLessThan(LIMIT);
    await produceSample(broker, 'third');
    expectSample(await consumeSample(broker), ['first', 'second', 'third']);
    expect(await broker.stop()).toBe(0);
  });
});
