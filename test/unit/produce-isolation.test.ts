/**
 * A Produce whose append fails for one partition (a throw, or a rejection) answers that partition with an
 * error and the others normally, as Kafka's appendToLocalLog does; the failure is logged, and no promise of
 * another partition is left unhandled.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { produceHandler } from '../../src/broker/handlers/produce.js';
import type { BrokerServices } from '../../src/broker/handlers/context.js';
import type { RequestContext } from '../../src/server/request.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { createLogger } from '../../src/server/logger.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import type { ProduceRequest } from '../../src/protocol/generated/produce.js';

const unhandled: unknown[] = [];
const onUnhandled = (r: unknown): void => {
  unhandled.push(r);
};
beforeEach(() => process.on('unhandledRejection', onUnhandled));
afterEach(() => process.off('unhandledRejection', onUnhandled));

it('one failing partition does not fail the others, nor leave their promises unhandled', async () => {
  const lines: string[] = [];
  let later!: (err: Error) => void;
  const services = {
    logger: createLogger('info', (l) => lines.push(l)),
    replicaManager: {
      getPartition: () => ({ log: { config: { maxMessageBytes: 1 << 20 } } }),
      appendRecords: (_topic: string, partition: number) => {
        if (partition === 0) return new Promise((_resolve, reject) => (later = reject)); // rejects after the throw below
        if (partition === 1) throw new Error('bug in the append path');
        if (partition === 2) throw new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, 'log dir offline');
        return { errorCode: ErrorCode.NONE, baseOffset: 41, logAppendTime: -1, logStartOffset: 0 };
      },
    },
  } as unknown as BrokerServices;
  const records = buildRecordBatch([{ key: null, value: Buffer.from('v'), timestamp: 1 }]);
  const req = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 1000,
    topicData: [{ name: 't', partitionData: [0, 1, 2, 3].map((index) => ({ index, records })) }],
  } as ProduceRequest;
  const out = produceHandler(services).handle(req, { apiVersion: 7 } as RequestContext) as Promise<{ responses: { partitionResponses: { index: number; errorCode: number; baseOffset: number }[] }[] }>;
  later(new Error('disk gone'));
  const res = await out;
  expect(res.responses[0]!.partitionResponses.map((p) => [p.index, p.errorCode, p.baseOffset])).toEqual([
    [0, ErrorCode.UNKNOWN_SERVER_ERROR, -1],
    [1, ErrorCode.UNKNOWN_SERVER_ERROR, -1],
    [2, ErrorCode.KAFKA_STORAGE_ERROR, -1],
    [3, ErrorCode.NONE, 41],
  ]);
  const log = lines.join('');
  expect(log).toMatch(/ERROR error appending to t-0: Error: disk gone/);
  expect(log).toMatch(/ERROR error appending to t-1: Error: bug in the append path/);
  await new Promise((r) => setImmediate(r));
  expect(unhandled).toEqual([]);
});
