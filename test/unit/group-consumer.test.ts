/**
 * The group consumer against a scripted coordinator on a real socket: FindCoordinator retried on
 * COORDINATOR_NOT_AVAILABLE, JoinGroup answered MEMBER_ID_REQUIRED and rejoined with the given id, the
 * leader's range assignment sent in SyncGroup, starting positions from OffsetFetch (else
 * auto.offset.reset through ListOffsets), poll's maxRecords, a heartbeat REBALANCE_IN_PROGRESS leading to a
 * commit of what was consumed (old generation) and a rejoin, and commit + LeaveGroup on close.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/client/connection.js';
import { createGroupConsumer } from '../../src/client/group-consumer.js';
import { decodeAssignment, decodeSubscription } from '../../src/client/assignors.js';
import { API_CODECS, ApiKey, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { readRequestHeader } from '../../src/protocol/generated/request-header.js';
import { sizeResponseHeader, writeResponseHeader } from '../../src/protocol/generated/response-header.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import type {
  FetchRequest,
  FindCoordinatorRequest,
  JoinGroupRequest,
  LeaveGroupRequest,
  ListOffsetsRequest,
  OffsetCommitRequest,
  OffsetFetchRequest,
  SyncGroupRequest,
} from '../../src/protocol/generated/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { waitFor } from '../helpers/wait.js';

function frame(apiKey: number, version: number, correlationId: number, body: unknown): Buffer {
  const codec = API_CODECS.get(apiKey)!;
  const hv = responseHeaderVersion(apiKey, version);
  const size = sizeResponseHeader({ correlationId }, hv) + codec.sizeResponse(body, version);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeResponseHeader(w, { correlationId }, hv);
  codec.writeResponse(w, body, version);
  return w.buf;
}

const RANGES: Array<[number, number, number]> = [
  [ApiKey.ApiVersions, 0, 3],
  [ApiKey.Metadata, 1, 9],
  [ApiKey.ListOffsets, 1, 7],
  [ApiKey.Fetch, 4, 12],
  [ApiKey.FindCoordinator, 0, 4],
  [ApiKey.JoinGroup, 0, 7],
  [ApiKey.SyncGroup, 0, 5],
  [ApiKey.Heartbeat, 0, 4],
  [ApiKey.LeaveGroup, 0, 4],
  [ApiKey.OffsetCommit, 0, 8],
  [ApiKey.OffsetFetch, 0, 8],
];

const LOG_END = 5;

interface Seen {
  apiKey: number;
  version: number;
  /** The decoded request: cast to the generated type of `apiKey`'s request. */
  body: unknown;
}

/** The decoded requests with this api key, as the generated request type T of that key. */
function requestsOf<T>(seen: readonly Seen[], apiKey: number): T[] {
  return seen.filter((s) => s.apiKey === apiKey).map((s) => s.body as T);
}

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** One broker, topic 't' with 2 partitions of 5 records each, and a coordinator for one group. */
async function fakeCluster() {
  const seen: Seen[] = [];
  const state = {
    port: 0,
    generation: 0,
    findCoordinatorFailures: 1,
    rebalanceOnHeartbeat: false,
    committed: new Map<string, number>([['t-0', 2]]),
    commits: [] as Array<{ generation: number; memberId: string; offsets: Record<string, number> }>,
    assignment: Buffer.alloc(0) as Buffer,
  };
  const answer = (apiKey: number, v: number, request: unknown): unknown => {
    switch (apiKey) {
      case ApiKey.ApiVersions:
        return { errorCode: 0, apiKeys: RANGES.map(([apiKey, minVersion, maxVersion]) => ({ apiKey, minVersion, maxVersion })) };
      case ApiKey.Metadata:
        return {
          brokers: [{ nodeId: 0, host: '127.0.0.1', port: state.port, rack: null }],
          clusterId: 'c',
          controllerId: 0,
          topics: [
            {
              errorCode: 0,
              name: 't',
              isInternal: false,
              partitions: [0, 1].map((p) => ({ errorCode: 0, partitionIndex: p, leaderId: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0], offlineReplicas: [] })),
            },
          ],
        };
      case ApiKey.FindCoordinator: {
        const body = request as FindCoordinatorRequest;
        const c = state.findCoordinatorFailures-- > 0
          ? { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, nodeId: -1, host: '', port: -1, errorMessage: null }
          : { errorCode: 0, nodeId: 0, host: '127.0.0.1', port: state.port, errorMessage: null };
        return v >= 4 ? { coordinators: [{ key: body.coordinatorKeys[0], ...c }] } : c;
      }
      case ApiKey.JoinGroup: {
        const body = request as JoinGroupRequest;
        if (body.memberId === '') return { errorCode: ErrorCode.MEMBER_ID_REQUIRED, generationId: -1, memberId: 'member-1', leader: '', members: [] };
        state.generation++;
        return {
          errorCode: 0,
          generationId: state.generation,
          protocolType: 'consumer',
          protocolName: body.protocols[0]!.name,
          leader: body.memberId,
          memberId: body.memberId,
          members: [{ memberId: body.memberId, groupInstanceId: null, metadata: body.protocols[0]!.metadata }],
        };
      }
      case ApiKey.SyncGroup: {
        const body = request as SyncGroupRequest;
        const mine = body.assignments.find((a) => a.memberId === body.memberId);
        if (mine) state.assignment = mine.assignment;
        return { errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: state.assignment };
      }
      case ApiKey.Heartbeat:
        if (state.rebalanceOnHeartbeat) {
          state.rebalanceOnHeartbeat = false;
          return { errorCode: ErrorCode.REBALANCE_IN_PROGRESS };
        }
        return { errorCode: 0 };
      case ApiKey.OffsetFetch: {
        const body = request as OffsetFetchRequest;
        const group = body.groups[0]!;
        const topics = (group.topics ?? []).map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((p: number) => ({
            partitionIndex: p,
            committedOffset: state.committed.get(`${t.name}-${p}`) ?? -1,
            committedLeaderEpoch: -1,
            metadata: '',
            errorCode: 0,
          })),
        }));
        return { groups: [{ groupId: group.groupId, topics, errorCode: 0 }] };
      }
      case ApiKey.OffsetCommit: {
        const body = request as OffsetCommitRequest;
        const offsets: Record<string, number> = {};
        for (const t of body.topics) for (const p of t.partitions) offsets[`${t.name}-${p.partitionIndex}`] = p.committedOffset;
        state.commits.push({ generation: body.generationIdOrMemberEpoch, memberId: body.memberId, offsets });
        for (const [k, o] of Object.entries(offsets)) state.committed.set(k, o);
        return { topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: 0 })) })) };
      }
      case ApiKey.LeaveGroup: {
        const body = request as LeaveGroupRequest;
        return { errorCode: 0, members: body.members.map((m) => ({ memberId: m.memberId, groupInstanceId: null, errorCode: 0 })) };
      }
      case ApiKey.ListOffsets: {
        const body = request as ListOffsetsRequest;
        return {
          topics: body.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: 0, timestamp: -1, offset: p.timestamp === -2 ? 0 : LOG_END, leaderEpoch: 0, oldStyleOffsets: [] })),
          })),
        };
      }
      case ApiKey.Fetch: {
        const body = request as FetchRequest;
        return {
          errorCode: 0,
          sessionId: 0,
          responses: body.topics.map((t) => ({
            topic: t.topic,
            partitions: t.partitions.map((p) => {
              const from = Number(p.fetchOffset);
              const records =
                from < LOG_END
                  ? buildRecordBatch(
                      Array.from({ length: LOG_END - from }, (_, i) => ({ key: null, value: Buffer.from(`p${p.partition}-${from + i}`) })),
                      { baseOffset: from },
                    )
                  : null;
              return { partitionIndex: p.partition, errorCode: 0, highWatermark: LOG_END, lastStableOffset: LOG_END, logStartOffset: 0, abortedTransactions: null, preferredReadReplica: -1, records };
            }),
          })),
        };
      }
      default:
        throw new Error(`unexpected api ${apiKey}`);
    }
  };
  const server = net.createServer((sock) => {
    const d = new FrameDecoder();
    sock.on('data', (chunk: Buffer) => {
      for (const payload of d.push(chunk)) {
        const apiKey = payload.readInt16BE(0);
        const version = payload.readInt16BE(2);
        const r = new Reader(payload);
        const h = readRequestHeader(r, requestHeaderVersion(apiKey, version));
        const body = API_CODECS.get(apiKey)!.readRequest(r, version);
        seen.push({ apiKey, version, body });
        sock.write(frame(apiKey, version, h.correlationId, answer(apiKey, version, body)));
      }
    });
    sock.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  state.port = (server.address() as net.AddressInfo).port;
  return { state, seen };
}

/** Polls until at least n records were handed out (each poll drives the consumer: joins, heartbeats, fetches). */
async function pollUntil(gc: ReturnType<typeof createGroupConsumer>, n: number, maxRecords?: number): Promise<string[]> {
  const out: string[] = [];
  await waitFor(
    async () => {
      for (const r of await gc.poll({ maxWaitMs: 50, maxRecords })) out.push(r.value!.toString());
      return out.length >= n;
    },
    { intervalMs: 0, message: `${n} records from the group consumer` },
  );
  return out;
}

describe('group consumer against a scripted coordinator', () => {
  it('joins, starts from committed offsets or auto.offset.reset, commits on revoke and on close, leaves', async () => {
    const { state, seen } = await fakeCluster();
    const gc = createGroupConsumer({
      bootstrap: `127.0.0.1:${state.port}`,
      groupId: 'g',
      topics: ['t'],
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 30,
      autoCommitIntervalMs: 60_000,
      maxWaitMs: 50,
      retryBackoffMs: 10,
    });
    try {
      const first = await pollUntil(gc, 2, 2);
      expect(first).toHaveLength(2);
      // JoinGroup twice (MEMBER_ID_REQUIRED), FindCoordinator retried; the leader sent a range assignment.
      const joins = requestsOf<JoinGroupRequest>(seen, ApiKey.JoinGroup);
      expect(joins.map((j) => j.memberId)).toEqual(['', 'member-1']);
      expect(decodeSubscription(joins[1]!.protocols[0]!.metadata).topics).toEqual(['t']);
      expect(joins[1]!.protocols.map((p) => p.name)).toEqual(['range']);
      expect(seen.filter((s) => s.apiKey === ApiKey.FindCoordinator).length).toBeGreaterThanOrEqual(2);
      expect(decodeAssignment(state.assignment)).toEqual([
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ]);
      expect(gc.assignment()).toHaveLength(2);
      const rest = await pollUntil(gc, 6);
      // Partition 0 starts at its committed offset 2, partition 1 (nothing committed) at the earliest.
      expect([...first, ...rest].sort()).toEqual(['p0-2', 'p0-3', 'p0-4', 'p1-0', 'p1-1', 'p1-2', 'p1-3', 'p1-4']);
      expect(state.commits).toEqual([]);

      // The coordinator starts a rebalance: the next poll commits what was consumed (generation 1), rejoins.
      state.rebalanceOnHeartbeat = true;
      await waitFor(
        async () => {
          await gc.poll({ maxWaitMs: 20 });
          return state.generation >= 2;
        },
        { intervalMs: 0, message: 'the consumer to rejoin (generation 2)' },
      );
      expect(state.generation).toBe(2);
      expect(state.commits).toEqual([{ generation: 1, memberId: 'member-1', offsets: { 't-0': 5, 't-1': 5 } }]);
    } finally {
      await gc.close();
    }
    // LeaveGroup v3+ names the members; v0-2 has one memberId.
    const leaves = requestsOf<LeaveGroupRequest>(seen, ApiKey.LeaveGroup);
    expect(leaves.map((l) => l.members[0]?.memberId ?? l.memberId)).toEqual(['member-1']);
    // Nothing new was consumed after the rejoin: close commits nothing more.
    expect(state.commits).toHaveLength(1);
  });

  it('commits exactly what poll handed out when maxRecords leaves records buffered', async () => {
    const { state } = await fakeCluster();
    state.committed.clear();
    const gc = createGroupConsumer({ bootstrap: `127.0.0.1:${state.port}`, groupId: 'g', topics: ['t'], autoOffsetReset: 'earliest', maxWaitMs: 50, retryBackoffMs: 10 });
    let got: string[] = [];
    try {
      got = await pollUntil(gc, 3, 3);
    } finally {
      await gc.close();
    }
    expect(got).toHaveLength(3);
    const last = state.commits.at(-1)!;
    const delivered = new Map<string, number>();
    for (const v of got) {
      const [, p, o] = /^p(\d)-(\d)$/.exec(v)!;
      delivered.set(`t-${p}`, Math.max(delivered.get(`t-${p}`) ?? 0, Number(o) + 1));
    }
    for (const [k, o] of delivered) expect(last.offsets[k]).toBe(o);
    // The partition with no record handed out is committed at its start, not past fetched records.
    for (const k of ['t-0', 't-1']) if (!delivered.has(k)) expect(last.offsets[k]).toBe(0);
  });
});
