/**
 * One admin request may not create more than 10 000 partitions (Kafka's MAX_PARTITIONS_PER_BATCH /
 * MAX_RECORDS_PER_USER_OP): found by the fuzzer, a CreatePartitions asking for 16 777 396 partitions took a
 * broker past 1.5 GB of RSS and stalled every other client. Kafka answers POLICY_VIOLATION for every topic.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type net from 'node:net';
import { startBroker, type StartedBroker } from '../../src/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { call } from '../fuzz/setup.js';
import { connect } from '../fuzz/wire.js';

let broker: StartedBroker;
let sock: net.Socket;
beforeAll(async () => {
  broker = await startBroker({ config: { 'num.partitions': '2' } });
  sock = await connect(broker.port);
  const created = await call(sock, 19, 4, { topics: [{ name: 'small', numPartitions: 2, replicationFactor: 1 }], timeoutMs: 10_000 });
  expect(created.topics[0].errorCode).toBe(0);
});
afterAll(async () => {
  sock?.destroy();
  await broker?.stop();
});

async function partitionsOf(topic: string): Promise<number> {
  const meta = await call(sock, 3, 9, { topics: [{ name: topic }], allowAutoTopicCreation: false });
  return meta.topics[0].errorCode === 0 ? meta.topics[0].partitions.length : -1;
}

it('CreatePartitions adding more than 10 000 partitions is refused for every topic, and nothing changes', async () => {
  const res = await call(sock, 37, 2, {
    topics: [
      { name: 'small', count: 16_777_396, assignments: null },
      { name: 'no-such-topic', count: 3, assignments: null },
    ],
    timeoutMs: 10_000,
    validateOnly: false,
  });
  expect(res.results.map((r: { errorCode: number }) => r.errorCode)).toEqual([ErrorCode.POLICY_VIOLATION, ErrorCode.POLICY_VIOLATION]);
  expect(res.results[0].errorMessage).toBe('Unable to perform excessively large batch operation.');
  expect(await partitionsOf('small')).toBe(2);
  // A topic the metadata does not know (yet) counts from zero: the controller may find it in the registry.
  const unknown = await call(sock, 37, 2, { topics: [{ name: 'not-yet-known', count: 10_001, assignments: null }], timeoutMs: 10_000, validateOnly: true });
  expect(unknown.results[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
  // Within the bound it still works.
  const ok = await call(sock, 37, 2, { topics: [{ name: 'small', count: 4, assignments: null }], timeoutMs: 10_000, validateOnly: false });
  expect(ok.results[0].errorCode).toBe(0);
  expect(await partitionsOf('small')).toBe(4);
});

it('CreateTopics asking for more than 10 000 partitions in total is refused for every topic', async () => {
  const res = await call(sock, 19, 5, {
    topics: [
      { name: 'huge', numPartitions: 0x7fffffff, replicationFactor: 1 },
      { name: 'a', numPartitions: 4000, replicationFactor: 1 },
    ],
    timeoutMs: 10_000,
  });
  for (const t of res.topics) {
    expect(t.errorCode, t.name).toBe(ErrorCode.POLICY_VIOLATION);
    expect(t.errorMessage).toBe('Excessively large number of partitions per request.');
    expect(t.numPartitions).toBe(-1);
  }
  expect(await partitionsOf('huge')).toBe(-1);
  expect(await partitionsOf('a')).toBe(-1);
  // Three topics of 3 400 each are 10 200: refused too; the default (-1) counts as num.partitions.
  const split = await call(sock, 19, 5, {
    topics: [0, 1, 2].map((i) => ({ name: `split-${i}`, numPartitions: 3400, replicationFactor: 1 })),
    timeoutMs: 10_000,
    validateOnly: true,
  });
  expect(split.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual([44, 44, 44]);
  const dflt = await call(sock, 19, 5, { topics: [{ name: 'dflt', numPartitions: -1, replicationFactor: -1 }], timeoutMs: 10_000 });
  expect(dflt.topics[0].errorCode).toBe(0);
  expect(await partitionsOf('dflt')).toBe(2);
});
