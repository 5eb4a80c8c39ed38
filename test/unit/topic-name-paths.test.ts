/**
 * Found by the fuzzer's CI pass after the replication merge: CreateTopics and CreatePartitions with an empty
 * name or one with characters no registry path may hold made the controller build an invalid znode path and
 * fail with UNKNOWN_SERVER_ERROR (logged as an internal error). Kafka answers INVALID_TOPIC_EXCEPTION for the
 * creation and UNKNOWN_TOPIC_OR_PARTITION for partitions of a topic that cannot exist.
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
  broker = await startBroker();
  sock = await connect(broker.port);
});
afterAll(async () => {
  sock?.destroy();
  await broker?.stop();
});

const names = ['', 'a/b', 'ü\u0000x', '..'];

it('CreateTopics with a name no registry path can hold: INVALID_TOPIC_EXCEPTION', async () => {
  for (const validateOnly of [false, true]) {
    const res = await call(sock, 19, 5, { topics: names.map((name) => ({ name, numPartitions: 1, replicationFactor: 1 })), timeoutMs: 10_000, validateOnly });
    expect(res.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual(names.map(() => ErrorCode.INVALID_TOPIC_EXCEPTION));
  }
});

it('CreatePartitions of such a topic: UNKNOWN_TOPIC_OR_PARTITION', async () => {
  const res = await call(sock, 37, 2, { topics: names.map((name) => ({ name, count: 3, assignments: null })), timeoutMs: 10_000, validateOnly: false });
  expect(res.results.map((t: { errorCode: number }) => t.errorCode)).toEqual(names.map(() => ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
});
