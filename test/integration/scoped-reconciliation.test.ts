/**
 * A controller write dirties the topics it touches and nothing else (issue 7: reconciliation stays scoped with a
 * controller in the cluster). Three in-process brokers record every registry path they read; then the real
 * controller creates a topic, reassigns and elects within one topic, and handles a broker's controlled shutdown.
 * No broker, the controller's own included, reads the znodes of a topic the change did not touch (a full pass
 * would read every topic's assignment and states).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin } from '../../src/client/admin.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import type { Registry } from '../../src/registry/registry.js';
import { kfk, quietPeriod, registerCleanup, waitFor } from '../helpers/index.js';
import { readPartitionState, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

/** Every registry path each broker read (get, exists, children), by broker id. */
const reads = new Map<number, string[]>();

function recording(id: number, inner: Registry): Registry {
  const list: string[] = [];
  reads.set(id, list);
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if ((prop === 'get' || prop === 'children' || prop === 'exists') && typeof v === 'function') {
        return (p: string, ...rest: unknown[]) => {
          list.push(p);
          return (v as (...a: unknown[]) => unknown).call(target, p, ...rest);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

let cluster: InProcessCluster;
const TOPICS = ['alpha', 'bravo', 'charlie'];

/** The reads of any broker that touch one of `topics` (its assignment, states or config). */
function readsOf(topics: string[]): string[] {
  const re = new RegExp(`^/(brokers|config)/topics/(${topics.join('|')})(/|$)`);
  return [...reads.entries()].flatMap(([id, list]) => list.filter((p) => re.test(p)).map((p) => `broker ${id}: ${p}`));
}

/** Lets what earlier steps started settle, then forgets what was read so far. */
async function settleAndReset(): Promise<void> {
  // Negative checks follow: stragglers of the previous step must not be counted against the next one.
  await quietPeriod(500);
  for (const list of reads.values()) list.length = 0;
}

async function everyBrokerAt(topic: string, partition: number): Promise<void> {
  const st = await readPartitionState(cluster.admin, topic, partition);
  await waitFor(
    () =>
      [...cluster.running.values()].every((b) => {
        const p = b.broker.replicaManager.getPartition(topic, partition);
        return p === undefined || p.leaderEpoch === st.leaderEpoch;
      }) && [...cluster.running.values()].every((b) => b.broker.metadata.partition(topic, partition)?.leaderEpoch === st.leaderEpoch),
    { message: `every broker applied ${topic}-${partition} at epoch ${st.leaderEpoch}` },
  );
}

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    config: { 'auto.leader.rebalance.enable': 'false', 'controlled.shutdown.retry.backoff.ms': '100' },
    wrapRegistry: recording,
  });
  // alpha has no replica on broker 2; bravo and charlie have one there.
  for (const [name, assignment] of [
    ['alpha', '0:1'],
    ['bravo', '1:2'],
    ['charlie', '2:0'],
  ] as const) {
    const res = await kfk(['topics', '--create', '--topic', name, '--replica-assignment', assignment, '--bootstrap-server', cluster.bootstrap()]);
    expect(res.code, res.stderr).toBe(0);
    await everyBrokerAt(name, 0);
  }
});

afterAll(async () => {
  await cluster?.close();
});

describe('controller writes dirty only the topics they touch', () => {
  it('creating a topic: every broker reads the new topic only', async () => {
    await settleAndReset();
    const res = await kfk(['topics', '--create', '--topic', 'delta', '--replica-assignment', '0:1:2', '--bootstrap-server', cluster.bootstrap()]);
    expect(res.code, res.stderr).toBe(0);
    await everyBrokerAt('delta', 0);
    await quietPeriod(300); // reads the creation's watches may still cause
    expect(readsOf(['delta']).length, 'the brokers read the new topic').toBeGreaterThan(0);
    expect(readsOf(TOPICS)).toEqual([]);
  });

  it('a reassignment and a preferred election of one topic: no broker reads another', async () => {
    await settleAndReset();
    const admin = createAdmin({ bootstrap: cluster.bootstrap() });
    try {
      const [reordered] = await admin.alterPartitionReassignments([{ topic: 'bravo', partition: 0, replicas: [2, 1] }]);
      expect(reordered!.errorCode).toBe(ErrorCode.NONE);
      await waitFor(async () => (await admin.electLeaders('preferred', [{ topic: 'bravo', partition: 0 }]))[0]!.errorCode === ErrorCode.NONE, {
        message: 'broker 2 elected leader of bravo-0',
      });
    } finally {
      await admin.close();
    }
    expect((await readPartitionState(cluster.admin, 'bravo', 0)).leader).toBe(2);
    await everyBrokerAt('bravo', 0);
    await quietPeriod(300);
    expect(readsOf(['bravo']).length).toBeGreaterThan(0);
    expect(readsOf(['alpha', 'charlie', 'delta'])).toEqual([]);
  });

  it("a broker's controlled shutdown: the brokers read the topics with a replica on it, not the others", async () => {
    await settleAndReset();
    await cluster.stop(2);
    for (const t of ['bravo', 'charlie', 'delta']) {
      await waitFor(async () => !(await readPartitionState(cluster.admin, t, 0)).isr.includes(2), { message: `broker 2 out of the ISR of ${t}-0` });
      await everyBrokerAt(t, 0);
    }
    await quietPeriod(300);
    expect(readsOf(['alpha'])).toEqual([]);
  });
});
