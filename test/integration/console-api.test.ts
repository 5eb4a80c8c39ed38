/**
 * The console's reads and changes below the browser, against a real broker (in this process): which records the
 * message browser returns (newest / oldest across partitions, by offset, by timestamp, the limit, where follow
 * mode goes on), how it shows binary data, the lag of a group, and the offsets a reset plans and commits
 * (clamped to the log, shift, timestamp, dry run, confirmation, refused for an active group). The browser tests
 * (console-browser, console-cluster) show the same through the page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type StartedBroker } from '../../src/index.js';
import { Admin } from '../../src/client/admin.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { Producer } from '../../src/client/producer.js';
import { GroupConsumer } from '../../src/client/group-consumer.js';
import { KafkaError, ErrorCode } from '../../src/protocol/errors.js';
import { browse } from '../../src/console/messages.js';
import { ClusterReader } from '../../src/console/cluster-view.js';
import { ConsoleRequestError, resetGroupOffsets } from '../../src/console/actions.js';
import { waitFor } from '../helpers/wait.js';

const TOPIC = 'browse';
const PARTITIONS = 3;
const PER_PARTITION = 10;
/** Record i of partition p has timestamp BASE + i * 1000 + p: a known order across partitions. */
const BASE = Date.UTC(2024, 0, 1);

describe('console API against a broker', () => {
  let broker: StartedBroker;
  let cluster: ClusterClient;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    broker = await startBroker();
    cluster = new ClusterClient({ bootstrap: broker.bootstrap, clientId: 'console-api-test' });
    admin = new Admin({ cluster });
    producer = new Producer({ cluster, acks: 'all', lingerMs: 0 });
    await admin.createTopics([{ name: TOPIC, numPartitions: PARTITIONS }]);
    await cluster.topicMetadata(TOPIC, { refresh: true, retryUnknown: true, waitForLeaders: true });
    for (let i = 0; i < PER_PARTITION; i++) {
      for (let p = 0; p < PARTITIONS; p++) await producer.send(TOPIC, { key: `p${p}-${i}`, value: `v${i}`, partition: p, timestamp: BASE + i * 1000 + p });
    }
  });

  afterAll(async () => {
    await producer?.close();
    await admin?.close();
    await cluster?.close();
    await broker?.stop();
  });

  const keys = (r: { records: Array<{ key: { data: string } | null }> }) => r.records.map((x) => x.key?.data);

  it('newest across partitions: the last `limit` by timestamp, oldest first; each partition goes on after what was read', async () => {
    const r = await browse(cluster, { topic: TOPIC, partition: null, from: { kind: 'latest' }, limit: 4 });
    expect(keys(r)).toEqual(['p2-8', 'p0-9', 'p1-9', 'p2-9']);
    expect(r.partitions).toEqual([0, 1, 2].map((partition) => ({ partition, nextOffset: PER_PARTITION, logStartOffset: 0, logEndOffset: PER_PARTITION })));
  });

  it('oldest across partitions: the first `limit`; each partition goes on after what was shown', async () => {
    const r = await browse(cluster, { topic: TOPIC, partition: null, from: { kind: 'earliest' }, limit: 4 });
    expect(keys(r)).toEqual(['p0-0', 'p1-0', 'p2-0', 'p0-1']);
    expect(r.partitions.map((p) => p.nextOffset)).toEqual([2, 1, 1]);
    // Follow from there: the next ones, nothing twice.
    const next = await browse(cluster, { topic: TOPIC, partition: null, from: { kind: 'positions', positions: new Map(r.partitions.map((p) => [p.partition, p.nextOffset])) }, limit: 3 });
    expect(keys(next)).toEqual(['p1-1', 'p2-1', 'p0-2']);
  });

  it('one partition by offset and by timestamp; out-of-range starts are clamped to the log', async () => {
    const byOffset = await browse(cluster, { topic: TOPIC, partition: 1, from: { kind: 'offset', offset: 7 }, limit: 50 });
    expect(byOffset.records.map((x) => [x.partition, x.offset])).toEqual([
      [1, 7],
      [1, 8],
      [1, 9],
    ]);
    expect(byOffset.records[0]).toMatchObject({ timestamp: BASE + 7000 + 1, timestampType: 'CreateTime', value: { encoding: 'utf8', data: 'v7' } });
    const byTime = await browse(cluster, { topic: TOPIC, partition: 0, from: { kind: 'timestamp', timestamp: BASE + 5500 }, limit: 2 });
    expect(byTime.records.map((x) => x.offset)).toEqual([6, 7]);
    const future = await browse(cluster, { topic: TOPIC, partition: 0, from: { kind: 'timestamp', timestamp: BASE + 10 ** 9 }, limit: 5 });
    expect(future.records).toEqual([]);
    expect(future.partitions[0]!.nextOffset).toBe(PER_PARTITION);
    const beyond = await browse(cluster, { topic: TOPIC, partition: 2, from: { kind: 'offset', offset: 1000 }, limit: 5 });
    expect(beyond.records).toEqual([]);
    expect(beyond.partitions[0]!.nextOffset).toBe(PER_PARTITION);
  });

  it('follow mode sees a new record once, binary shown as base64; unknown partitions and topics are errors', async () => {
    const at = await browse(cluster, { topic: TOPIC, partition: null, from: { kind: 'latest' }, limit: 1 });
    const positions = new Map(at.partitions.map((p) => [p.partition, p.nextOffset]));
    expect((await browse(cluster, { topic: TOPIC, partition: null, from: { kind: 'positions', positions }, limit: 10 })).records).toEqual([]);
    await producer.send(TOPIC, { key: null, value: Buffer.from([0, 1, 2, 0xff]), partition: 1, headers: [{ key: 'h', value: 'x' }] });
    const r = await browse(cluster, { topic: TOPIC, partition: null, from: { kind: 'positions', positions }, limit: 10 });
    expect(r.records).toMatchObject([{ partition: 1, offset: PER_PARTITION, key: null, value: { encoding: 'base64', data: 'AAEC/w==', size: 4 }, headers: [{ key: 'h', value: { encoding: 'utf8', data: 'x' } }] }]);
    await expect(browse(cluster, { topic: TOPIC, partition: 9, from: { kind: 'earliest' }, limit: 1 })).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    await expect(browse(cluster, { topic: 'no-such-topic', partition: null, from: { kind: 'earliest' }, limit: 1 })).rejects.toBeInstanceOf(KafkaError);
  });

  it('group lag per partition, and resets: clamped, shifted, by timestamp, dry run, confirmation, refused while active', async () => {
    const group = 'api-group';
    const reader = new ClusterReader(admin);
    await admin.alterGroupOffsets(group, [
      { topic: TOPIC, partition: 0, offset: 4 },
      { topic: TOPIC, partition: 2, offset: 10 },
    ]);
    const view = await reader.group(group);
    expect(view.offsets.map((o) => [o.partition, o.committedOffset, o.logEndOffset, o.lag])).toEqual([
      [0, 4, 10, 6],
      [2, 10, 10, 0],
    ]);
    expect(view.totalLag).toBe(6);

    await expect(resetGroupOffsets(admin, { groupId: group, topic: null, to: { kind: 'earliest' }, confirm: 'wrong', dryRun: false })).rejects.toBeInstanceOf(ConsoleRequestError);
    const dry = await resetGroupOffsets(admin, { groupId: group, topic: null, to: { kind: 'shift', by: -100 }, confirm: undefined, dryRun: true });
    expect(dry.offsets.map((o) => [o.partition, o.previousOffset, o.newOffset])).toEqual([
      [0, 4, 0],
      [2, 10, 0],
    ]);
    expect((await reader.group(group)).totalLag).toBe(6); // a dry run commits nothing

    await resetGroupOffsets(admin, { groupId: group, topic: null, to: { kind: 'shift', by: 3 }, confirm: group, dryRun: false });
    expect((await admin.listGroupOffsets(group)).map((o) => [o.partition, o.offset])).toEqual([
      [0, 7],
      [2, 10],
    ]);
    // A whole topic (every partition, committed or not), by timestamp: the first record at or after it.
    const byTime = await resetGroupOffsets(admin, { groupId: group, topic: TOPIC, to: { kind: 'timestamp', timestamp: BASE + 2500 }, confirm: group, dryRun: false });
    expect(byTime.offsets.map((o) => [o.partition, o.previousOffset, o.newOffset])).toEqual([
      [0, 7, 3],
      [1, null, 3],
      [2, 10, 3],
    ]);
    expect((await reader.group(group)).offsets.map((o) => o.lag)).toEqual([7, 8, 7]);

    // A member joins: resets are refused, with Kafka's message.
    const member = new GroupConsumer({ cluster, groupId: group, topics: [TOPIC], autoCommit: false });
    // The member polls until told to stop, and stops before it is closed: a closing consumer's poll() resolves at
    // once, so polling on during close() would spin on microtasks and starve the I/O close() waits for.
    let stop = false;
    const polling = (async () => {
      while (!stop) await member.poll({ maxWaitMs: 100 });
    })();
    try {
      await waitFor(async () => (await admin.describeGroup(group)).state === 'Stable', { timeoutMs: 30_000, message: 'the member joined' });
      await expect(resetGroupOffsets(admin, { groupId: group, topic: null, to: { kind: 'latest' }, confirm: group, dryRun: false })).rejects.toThrow(
        `Assignments can only be reset if the group '${group}' is inactive, but the current state is Stable.`,
      );
    } finally {
      stop = true;
      await polling.catch(() => undefined);
      await member.close();
    }
  });
});
