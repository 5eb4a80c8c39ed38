/**
 * What a replicated partition answers, request by request, from three in-process brokers: only the leader
 * serves Produce, Fetch and ListOffsets (NOT_LEADER_OR_FOLLOWER elsewhere, UNKNOWN_TOPIC_OR_PARTITION only for
 * partitions that do not exist); current_leader_epoch is checked (KIP-320); consumers read up to the high
 * watermark while followers read up to the log end; OffsetsForLeaderEpoch answers from the leader epoch cache;
 * acks=all times out (REQUEST_TIMED_OUT) while an ISR member does not fetch; a partition whose ISR members are
 * all gone has no leader, and its other replicas keep their logs. Leadership and ISRs change only as the
 * brokers' controller and the partition leader change them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerConnection } from '../../src/client/connection.js';
import { ApiKey } from '../../src/protocol/generated/apis.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import { kfk, registerCleanup, waitFor } from '../helpers/index.js';
import { readPartitionState, stallReplication, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

let cluster: InProcessCluster;
const conns: BrokerConnection[] = [];
let leaderId: number;
let followers: number[];
let epoch: number;

async function connect(id: number): Promise<BrokerConnection> {
  const c = await BrokerConnection.connect({ host: '127.0.0.1', port: cluster.port(id) });
  conns.push(c);
  return c;
}

const records = (...values: string[]) => buildRecordBatch(values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })));

async function produce(c: BrokerConnection, topic: string, acks: number, timeoutMs: number, ...values: string[]) {
  const r = await c.request(ApiKey.Produce, { acks, timeoutMs, topicData: [{ name: topic, partitionData: [{ index: 0, records: records(...values) }] }] }, { version: 9 });
  return r.responses[0].partitionResponses[0] as { errorCode: number; baseOffset: number };
}

async function fetch(c: BrokerConnection, topic: string, opts: { replicaId?: number; fetchOffset?: number; currentLeaderEpoch?: number; lastFetchedEpoch?: number; maxWaitMs?: number } = {}) {
  const r = await c.request(
    ApiKey.Fetch,
    {
      replicaId: opts.replicaId ?? -1,
      maxWaitMs: opts.maxWaitMs ?? 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: opts.currentLeaderEpoch ?? -1, fetchOffset: opts.fetchOffset ?? 0, lastFetchedEpoch: opts.lastFetchedEpoch ?? -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [],
      rackId: '',
    },
    { version: 12 },
  );
  const p = r.responses[0].partitions[0];
  return { ...p, values: p.records && p.records.length > 0 ? decodeRecordBatches(p.records).flatMap((b) => b.records.map((x) => x.value!.toString())) : [] };
}

async function listOffset(c: BrokerConnection, topic: string, timestamp: number, opts: { replicaId?: number; currentLeaderEpoch?: number } = {}) {
  const r = await c.request(
    ApiKey.ListOffsets,
    { replicaId: opts.replicaId ?? -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: opts.currentLeaderEpoch ?? -1, timestamp }] }] },
    { version: 6 },
  );
  return r.topics[0].partitions[0] as { errorCode: number; offset: number; leaderEpoch: number };
}

async function epochEnd(c: BrokerConnection, topic: string, leaderEpoch: number, currentLeaderEpoch = -1) {
  const r = await c.request(ApiKey.OffsetForLeaderEpoch, { replicaId: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch, leaderEpoch }] }] }, { version: 4 });
  return r.topics[0].partitions[0] as { errorCode: number; leaderEpoch: number; endOffset: number };
}

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    // Long enough that no follower leaves the ISR during these tests.
    config: {
      'replica.lag.time.max.ms': '60000',
      'replica.fetch.wait.max.ms': '100',
      'replica.fetch.backoff.ms': '100',
      // A leadership that cannot move (no other ISR member) is not asked about again and again.
      'controlled.shutdown.max.retries': '1',
    },
  });
  const res = await kfk(['topics', '--create', '--topic', 'proto', '--partitions', '1', '--replication-factor', '3', '--bootstrap-server', cluster.bootstrap()]);
  expect(res.code, res.stderr).toBe(0);
  const st = await readPartitionState(cluster.admin, 'proto', 0);
  leaderId = st.leader;
  epoch = st.leaderEpoch;
  followers = [0, 1, 2].filter((id) => id !== leaderId);
  await waitFor(() => [...cluster.running.values()].every((b) => b.broker.replicaManager.getPartition('proto', 0) !== undefined));
});

/** Waits until the registry's ISR of proto-0 is `isr` (any order) and returns the state. */
async function isrBecomes(isr: number[]) {
  const want = [...isr].sort().join();
  await waitFor(async () => [...(await readPartitionState(cluster.admin, 'proto', 0)).isr].sort().join() === want, { timeoutMs: 20_000, message: `proto-0 ISR [${want}]` });
  return readPartitionState(cluster.admin, 'proto', 0);
}

const replicaOn = (id: number) => cluster.running.get(id)?.broker.replicaManager.getPartition('proto', 0);

afterAll(async () => {
  for (const c of conns) c.close();
  await cluster?.close();
});

describe('a replicated partition, request by request', () => {
  it('only the leader serves Produce, Fetch, ListOffsets and OffsetsForLeaderEpoch; unknown partitions stay UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const leader = await connect(leaderId);
    const follower = await connect(followers[0]!);
    expect((await produce(leader, 'proto', -1, 10_000, 'a', 'b')).errorCode).toBe(ErrorCode.NONE);
    expect((await produce(follower, 'proto', 1, 10_000, 'c')).errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect((await produce(follower, 'no-such-topic', 1, 10_000, 'c')).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await fetch(follower, 'proto')).errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect((await listOffset(follower, 'proto', -1)).errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect((await epochEnd(follower, 'proto', epoch)).errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    const read = await fetch(leader, 'proto');
    expect(read.errorCode).toBe(ErrorCode.NONE);
    expect(read.values).toEqual(['a', 'b']);
    expect(read.highWatermark).toBe(2);
  });

  it('checks current_leader_epoch: older → FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH, -1 or equal → served', async () => {
    const leader = await connect(leaderId);
    // A follower shuts down: the controller takes it out of the ISR with the leader epoch + 1 (same leader); it
    // comes back, catches up and the leader takes it back into the ISR (no new epoch).
    await cluster.stop(followers[1]!);
    const shrunk = await isrBecomes([leaderId, followers[0]!]);
    expect(shrunk.leader).toBe(leaderId);
    expect(shrunk.leaderEpoch).toBe(epoch + 1);
    epoch = shrunk.leaderEpoch;
    await cluster.start(followers[1]!);
    expect((await isrBecomes([0, 1, 2])).leaderEpoch).toBe(epoch);
    await waitFor(() => [...cluster.running.values()].every((b) => b.broker.replicaManager.getPartition('proto', 0)!.leaderEpoch === epoch), {
      message: `every replica at epoch ${epoch}`,
    });
    for (const [current, expected] of [
      [epoch - 1, ErrorCode.FENCED_LEADER_EPOCH],
      [epoch + 1, ErrorCode.UNKNOWN_LEADER_EPOCH],
      [epoch, ErrorCode.NONE],
      [-1, ErrorCode.NONE],
    ] as const) {
      expect((await fetch(leader, 'proto', { currentLeaderEpoch: current })).errorCode, `Fetch with ${current}`).toBe(expected);
      expect((await listOffset(leader, 'proto', -1, { currentLeaderEpoch: current })).errorCode, `ListOffsets with ${current}`).toBe(expected);
      expect((await epochEnd(leader, 'proto', epoch, current)).errorCode, `OffsetsForLeaderEpoch with ${current}`).toBe(expected);
    }
  });

  it('answers OffsetsForLeaderEpoch from the leader epoch cache and a mismatching last_fetched_epoch with diverging_epoch', async () => {
    const leader = await connect(leaderId);
    const end = (await listOffset(leader, 'proto', -1)).offset;
    expect(await epochEnd(leader, 'proto', epoch)).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, leaderEpoch: epoch, endOffset: end }));
    expect(await epochEnd(leader, 'proto', epoch + 5)).toEqual(expect.objectContaining({ errorCode: ErrorCode.NONE, leaderEpoch: -1, endOffset: -1 }));
    // A fetcher claiming it last fetched epoch `epoch` at an offset past where that epoch ends here diverged.
    const diverged = await fetch(leader, 'proto', { replicaId: followers[0], fetchOffset: end + 3, lastFetchedEpoch: epoch });
    expect(diverged.errorCode).toBe(ErrorCode.NONE);
    expect(diverged.divergingEpoch).toEqual({ epoch, endOffset: end });
    expect(diverged.values).toEqual([]);
  });

  it('consumers read up to the high watermark and followers to the log end; acks=all times out while an ISR member is away', async () => {
    const leader = await connect(leaderId);
    const before = await listOffset(leader, 'proto', -1);
    const leaderPartition = cluster.running.get(leaderId)!.broker.replicaManager.getPartition('proto', 0)!;
    await waitFor(() => leaderPartition.highWatermark === leaderPartition.log.logEndOffset, { message: 'high watermark at the log end' });
    // One follower cannot fetch: it stays in the ISR (replica.lag.time.max.ms is long), so the high watermark stalls.
    const stalled = await stallReplication(cluster.running.get(followers[1]!)!.broker);
    const timedOut = await produce(leader, 'proto', -1, 1000, 'x');
    expect(timedOut.errorCode).toBe(ErrorCode.REQUEST_TIMED_OUT);
    expect((await produce(leader, 'proto', 1, 1000, 'y')).errorCode).toBe(ErrorCode.NONE);
    expect((await readPartitionState(cluster.admin, 'proto', 0)).isr).toHaveLength(3);

    const hw = leaderPartition.highWatermark;
    expect(hw).toBe(before.offset);
    expect(leaderPartition.log.logEndOffset).toBe(hw + 2);
    expect((await listOffset(leader, 'proto', -1)).offset).toBe(hw);
    expect((await listOffset(leader, 'proto', -1, { replicaId: followers[0] })).offset).toBe(hw + 2);
    const consumer = await fetch(leader, 'proto', { fetchOffset: hw, maxWaitMs: 200 });
    expect(consumer.errorCode).toBe(ErrorCode.NONE);
    expect(consumer.values).toEqual([]);
    expect(consumer.highWatermark).toBe(hw);
    // The leader's records past the high watermark go to followers (this one is broker `followers[1]`'s id,
    // which is not fetching; the read is what that follower would get).
    const asFollower = await fetch(leader, 'proto', { replicaId: followers[1], fetchOffset: hw });
    expect(asFollower.values).toEqual(['x', 'y']);

    await stalled.release();
    await waitFor(() => leaderPartition.highWatermark === hw + 2, { message: 'high watermark past x and y once the follower fetches again' });
    const all = await fetch(leader, 'proto', { fetchOffset: hw });
    expect(all.values).toEqual(['x', 'y']);
  });

  it('with no leader (every ISR member gone), the other replicas keep their logs and answer NOT_LEADER_OR_FOLLOWER; Metadata says LEADER_NOT_AVAILABLE', async () => {
    const [f0, f1] = followers as [number, number];
    // The followers shut down one after the other (each leaves the ISR), then the leader, the last ISR member.
    await cluster.stop(f0);
    await cluster.stop(f1);
    const alone = await isrBecomes([leaderId]);
    expect(alone.leader).toBe(leaderId);
    await cluster.stop(leaderId);
    // A follower comes back and is controller now: the leader is gone and no live replica is in the ISR, so
    // the partition has no leader (unclean.leader.election.enable is false); the other follower comes back too.
    await cluster.start(f0);
    await waitFor(async () => (await readPartitionState(cluster.admin, 'proto', 0)).leader === -1, { message: 'proto-0 offline' });
    const offline = await readPartitionState(cluster.admin, 'proto', 0);
    expect(offline).toMatchObject({ leader: -1, isr: [leaderId], leaderEpoch: alone.leaderEpoch + 1 });
    await cluster.start(f1);
    await waitFor(() => followers.every((id) => replicaOn(id)?.leaderEpoch === offline.leaderEpoch), { message: 'both followers at the offline epoch' });
    for (const id of followers) {
      const c = await connect(id);
      expect((await produce(c, 'proto', 1, 1000, 'nope')).errorCode, `broker ${id}`).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      expect((await fetch(c, 'proto')).errorCode, `broker ${id}`).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      expect(replicaOn(id)!.log.logEndOffset, `broker ${id} keeps its log`).toBeGreaterThan(0);
      const md = await c.request(ApiKey.Metadata, { topics: [{ name: 'proto' }], allowAutoTopicCreation: false }, { version: 9 });
      expect(md.topics[0].partitions[0]).toMatchObject({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, leaderId: -1 });
    }
    // The returning followers were not elected: they are not in the ISR.
    expect(await readPartitionState(cluster.admin, 'proto', 0)).toMatchObject({ leader: -1, leaderEpoch: offline.leaderEpoch });
    // The last ISR member returns: the controller elects it, it serves everything it had, and the others catch
    // up and rejoin the ISR.
    await cluster.start(leaderId);
    const leader = await connect(leaderId);
    await waitFor(async () => (await fetch(leader, 'proto')).errorCode === ErrorCode.NONE, { message: 'leader again' });
    expect((await readPartitionState(cluster.admin, 'proto', 0)).leader).toBe(leaderId);
    expect((await fetch(leader, 'proto')).values.slice(0, 2)).toEqual(['a', 'b']);
    await isrBecomes([0, 1, 2]);
  });
});
