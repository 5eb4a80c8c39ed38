/**
 * No request can stop the broker (issue 8, item 1). Each way a request can fail, on a raw socket against a
 * real broker process: an encode failure after an async handler and after a sync one, a decode failure, a
 * handler that throws, a handler that rejects. For each, the broker process is alive afterwards, a client
 * connected alongside is answered within a second, the failure is logged once with the API name, key,
 * version and client id, and at the end the partition still reads cleanly with kcat and kafka-python.
 *
 * The first two use real causes that used to kill the broker (an error message quoting a maximal topic name;
 * a group id of invalid UTF-8 echoed back three times longer). The rest use the broker's test-only fault
 * injection (KFK_TEST_FAULT=1, client id kfk-test-fault:<kind>), since nothing a client sends can make a
 * handler throw any more.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, kcat, makeTempDir, python, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { RawConnection, apiVersions, decodeResponse, encodeRequest } from '../helpers/raw-client.js';
import { MAX_STRING_BYTES, Writer } from '../../src/protocol/primitives.js';
import { sizeRequestHeader, writeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { ErrorCode } from '../../src/protocol/errors.js';

registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');
const TOPIC = 'failures';
const RECORDS = ['one', 'two', 'three'];

let broker: BrokerProcess;
/** A well-behaved client connected for the whole file. */
let bystander: RawConnection;
let correlation = 1000;

beforeAll(async () => {
  // a private TMPDIR keeps its pid file out of reach of a `kfk server stop` run elsewhere on the machine
  broker = await startBrokerProcess({ env: { KFK_TEST_FAULT: '1', TMPDIR: makeTempDir('kfk-pids') } });
  const produced = await kcat(['-b', broker.bootstrap, '-P', '-t', TOPIC], { input: RECORDS.join('\n') + '\n' });
  expect(produced.code, produced.stderr).toBe(0);
  bystander = await RawConnection.open(broker.port);
});

afterAll(() => {
  bystander?.destroy();
});

/** The broker is alive, and the bystander's ApiVersions is answered within a second. */
async function brokerStillServes(): Promise<void> {
  expect(broker.hasExited(), broker.stderr()).toBe(false);
  let answered: number | undefined;
  await waitFor(
    async () => {
      answered = await apiVersions(bystander, ++correlation, 1000);
      return true;
    },
    { timeoutMs: 1000, intervalMs: 10, message: 'ApiVersions answered on the bystander connection' },
  );
  expect(answered).toBe(ErrorCode.NONE);
}

/** Waits for the broker's log line about this request and returns it (with the stack lines after it). */
async function logged(pattern: RegExp): Promise<string> {
  let match: RegExpExecArray | null = null;
  await waitFor(() => (match = pattern.exec(broker.stderr())) !== null, { timeoutMs: 5000, message: `a log line matching ${pattern}` });
  return match![0];
}

function produceBody(acks: number, value: string) {
  return {
    transactionalId: null,
    acks,
    timeoutMs: 5000,
    topicData: [{ name: TOPIC, partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.from(value), timestamp: Date.now() }]) }] }],
  };
}

describe('a request whose response cannot be encoded', () => {
  it('after an async handler (CreateTopics echoing a maximal topic name in its error message) is answered', async () => {
    const name = 'x'.repeat(MAX_STRING_BYTES - 1) + '!'; // the longest name a v4 request can carry, and illegal
    const c = await RawConnection.open(broker.port);
    try {
      await c.write(encodeRequest(19, 4, 1, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false }));
      const [frame] = await c.frames(1);
      const { body } = decodeResponse<{ topics: { name: string; errorCode: number; errorMessage: string }[] }>(frame!, 19, 4);
      expect(body.topics).toHaveLength(1);
      expect(body.topics[0]!.name).toBe(name);
      expect(body.topics[0]!.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
      // Kafka's message quotes the name: cut to the field's limit instead of failing the encoder
      expect(body.topics[0]!.errorMessage).toMatch(/^Topic name is illegal, it can't be longer than 249 characters, topic name: x+$/);
      expect(Buffer.byteLength(body.topics[0]!.errorMessage)).toBe(MAX_STRING_BYTES);
      expect(await c.waitForClose(200)).toBe('open');
    } finally {
      c.destroy();
    }
    await brokerStillServes();
  });

  it('after a sync handler (DescribeGroups echoing a group id of invalid UTF-8) is answered', async () => {
    // DescribeGroups v0 by hand: one group id of 32767 bytes 0xff, which decodes to 32767 U+FFFD (3 bytes each)
    const header = { requestApiKey: 15, requestApiVersion: 0, correlationId: 2, clientId: 'kfk-invalid-utf8' };
    const size = sizeRequestHeader(header, 1) + 4 + 2 + MAX_STRING_BYTES;
    const w = Writer.alloc(4 + size);
    w.int32(size);
    writeRequestHeader(w, header, 1);
    w.int32(1);
    w.int16(MAX_STRING_BYTES);
    w.rawBytes(Buffer.alloc(MAX_STRING_BYTES, 0xff));
    const c = await RawConnection.open(broker.port);
    try {
      await c.write(w.finish());
      const [frame] = await c.frames(1);
      const { correlationId, body } = decodeResponse<{ groups: { groupId: string; errorCode: number }[] }>(frame!, 15, 0);
      expect(correlationId).toBe(2);
      expect(body.groups).toHaveLength(1);
      expect(Buffer.byteLength(body.groups[0]!.groupId)).toBeLessThanOrEqual(MAX_STRING_BYTES);
      expect(body.groups[0]!.groupId).toMatch(/^\ufffd+$/);
    } finally {
      c.destroy();
    }
    await brokerStillServes();
  });

  for (const [kind, apiKey, version, name] of [
    ['encode-async', 3, 4, 'Metadata'],
    ['encode-sync', 16, 1, 'ListGroups'],
  ] as const) {
    it(`of any kind (${kind}, ${name}) gets the API's error response, and the failure is logged`, async () => {
      const c = await RawConnection.open(broker.port);
      try {
        const body = apiKey === 3 ? { topics: [{ name: TOPIC }, { name: 'other' }], allowAutoTopicCreation: false } : {};
        await c.write(encodeRequest(apiKey, version, 7, body, `kfk-test-fault:${kind}`));
        const [frame] = await c.frames(1);
        const res = decodeResponse<Record<string, unknown>>(frame!, apiKey, version);
        expect(res.correlationId).toBe(7);
        if (apiKey === 3) {
          expect(res.body['topics']).toMatchObject([
            { name: TOPIC, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR },
            { name: 'other', errorCode: ErrorCode.UNKNOWN_SERVER_ERROR },
          ]);
        } else {
          expect(res.body['errorCode']).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
        }
        // the connection carries on
        expect(await apiVersions(c, 8)).toBe(ErrorCode.NONE);
      } finally {
        c.destroy();
      }
      const line = await logged(new RegExp(`ERROR request failed while encoding the response: ${name} \\(key ${apiKey}\\) v${version}, correlation id 7, client id "kfk-test-fault:${kind}", from 127\\.0\\.0\\.1:\\d+; answered with UNKNOWN_SERVER_ERROR \\(-1\\): RangeError: KFK_TEST_FAULT[^\\n]*\\n\\s+at `));
      expect(line).toContain('cannot be encoded');
      await brokerStillServes();
    });
  }
});

describe('a request that cannot be decoded', () => {
  it('closes that connection only, and is logged with the API, version and client id', async () => {
    const frame = encodeRequest(3, 4, 9, { topics: [{ name: TOPIC }], allowAutoTopicCreation: false }, 'kfk-truncated-body');
    // keep the header and the start of the body, and make the size prefix say so: a well-framed, short body
    const cut = frame.subarray(0, frame.length - 6);
    cut.writeInt32BE(cut.length - 4, 0);
    const c = await RawConnection.open(broker.port);
    await c.write(cut);
    expect(await c.waitForClose()).toBe('closed');
    expect(c.received).toEqual([]);
    await logged(/WARN closing connection: malformed request Metadata \(key 3\) v4, correlation id 9, client id "kfk-truncated-body", from 127\.0\.0\.1:\d+: truncated/);
    await brokerStillServes();
  });
});

describe('a handler that fails', () => {
  it('by throwing synchronously (Produce, acks=-1): every partition gets UNKNOWN_SERVER_ERROR and nothing is appended', async () => {
    const c = await RawConnection.open(broker.port);
    try {
      await c.write(encodeRequest(0, 7, 11, produceBody(-1, 'never stored'), 'kfk-test-fault:throw'));
      const [frame] = await c.frames(1);
      const { body } = decodeResponse<{ responses: { name: string; partitionResponses: { index: number; errorCode: number; baseOffset: number }[] }[] }>(frame!, 0, 7);
      expect(body.responses).toEqual([
        { name: TOPIC, partitionResponses: [expect.objectContaining({ index: 0, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, baseOffset: -1 })] },
      ]);
    } finally {
      c.destroy();
    }
    await logged(/ERROR request failed in the handler: Produce \(key 0\) v7, correlation id 11, client id "kfk-test-fault:throw", from 127\.0\.0\.1:\d+; answered with UNKNOWN_SERVER_ERROR \(-1\): Error: KFK_TEST_FAULT: the handler throws\n\s+at /);
    await brokerStillServes();
  });

  it('by throwing on an acks=0 Produce (no response expected): the connection is closed, as Kafka does', async () => {
    const c = await RawConnection.open(broker.port);
    await c.write(encodeRequest(0, 7, 12, produceBody(0, 'never stored either'), 'kfk-test-fault:throw'));
    expect(await c.waitForClose()).toBe('closed');
    expect(c.received).toEqual([]);
    await logged(/ERROR request failed in the handler: Produce \(key 0\) v7, correlation id 12, client id "kfk-test-fault:throw", from 127\.0\.0\.1:\d+; closing the connection \(no error response for this request\)/);
    await brokerStillServes();
  });

  it('by rejecting (Fetch v11): every requested partition gets UNKNOWN_SERVER_ERROR', async () => {
    const c = await RawConnection.open(broker.port);
    try {
      const fetch = {
        replicaId: -1,
        maxWaitMs: 100,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
        forgottenTopicsData: [],
        rackId: '',
      };
      await c.write(encodeRequest(1, 11, 13, fetch, 'kfk-test-fault:reject'));
      const [frame] = await c.frames(1);
      const { body } = decodeResponse<{ errorCode: number; responses: { topic: string; partitions: { partitionIndex: number; errorCode: number; records: Buffer | null }[] }[] }>(frame!, 1, 11);
      expect(body.errorCode).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
      expect(body.responses).toMatchObject([{ topic: TOPIC, partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR }] }]);
      expect(body.responses[0]!.partitions[0]!.records?.length ?? 0).toBe(0);
    } finally {
      c.destroy();
    }
    await logged(/ERROR request failed in the handler: Fetch \(key 1\) v11, correlation id 13, client id "kfk-test-fault:reject", from 127\.0\.0\.1:\d+; answered with UNKNOWN_SERVER_ERROR \(-1\): Error: KFK_TEST_FAULT: the handler rejects\n\s+at /);
    await brokerStillServes();
  });
});

describe('afterwards', () => {
  it('the partition reads cleanly with kcat and kafka-python, without the failed produces', async () => {
    const read = await kcat(['-b', broker.bootstrap, '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%o:%s\\n']);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toBe(RECORDS.map((r, i) => `${i}:${r}\n`).join(''));
    const consumed = await python(KP, ['consume', JSON.stringify({ bootstrap: broker.bootstrap, topic: TOPIC })], { timeoutMs: 60_000 });
    expect(consumed.code, consumed.stderr).toBe(0);
    const out = JSON.parse(consumed.stdout.trim().split('\n').pop()!) as { records: { offset: number; value: string }[]; end_offsets: Record<string, number> };
    expect(out.records.map((r) => [r.offset, r.value])).toEqual(RECORDS.map((r, i) => [i, r]));
    expect(out.end_offsets).toEqual({ '0': RECORDS.length });
    // each failure was logged once
    expect(broker.stderr().match(/request failed in the handler: Produce \(key 0\) v7, correlation id 11,/g)).toHaveLength(1);
    expect(broker.hasExited()).toBe(false);
  });
});
