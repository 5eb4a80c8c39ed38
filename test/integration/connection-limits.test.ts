/**
 * Connection limits, as Kafka configures them (issue 8, item 4), against real broker processes and raw sockets:
 * max.connections.per.ip (with an override for another loopback address) and max.connections close a
 * connection over the limit at accept, and each limit hit is logged once per source address; a connection
 * that sends half a frame and goes silent is closed after connections.max.idle.ms, while a request being
 * handled for longer than that, and an active consumer, are not; a client that pipelines thousands of
 * requests without reading the responses keeps the broker's memory bounded and other clients served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kcat, makeTempDir, registerCleanup, sleep, spawnProcess, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { RawConnection, apiVersions, decodeResponse, encodeRequest, rssBytes } from '../helpers/raw-client.js';
import { ErrorCode } from '../../src/protocol/errors.js';

registerCleanup();

const privateTmp = (): Record<string, string> => ({ TMPDIR: makeTempDir('kfk-pids') });

function count(haystack: string, re: RegExp): number {
  return haystack.match(new RegExp(re.source, 'g'))?.length ?? 0;
}

describe('max.connections.per.ip, max.connections.per.ip.overrides and max.connections', () => {
  let broker: BrokerProcess;
  const open: RawConnection[] = [];

  beforeAll(async () => {
    broker = await startBrokerProcess({
      overrides: {
        'max.connections': '6',
        'max.connections.per.ip': '3',
        'max.connections.per.ip.overrides': '127.0.0.2:5',
      },
      env: privateTmp(),
    });
  });

  afterAll(() => {
    for (const c of open) c.destroy();
  });

  /** Opens a connection and proves it is served (an answered ApiVersions). */
  async function served(from: string): Promise<RawConnection> {
    const c = await RawConnection.open(broker.port, from);
    open.push(c);
    expect(await apiVersions(c, 1)).toBe(ErrorCode.NONE);
    return c;
  }

  /** The same, retried until the broker has seen earlier connections from this address close. */
  async function servedOnceFreed(from: string): Promise<RawConnection> {
    let conn: RawConnection | undefined;
    await waitFor(
      async () => {
        const c = await RawConnection.open(broker.port, from);
        try {
          if ((await apiVersions(c, 1, 2000)) === ErrorCode.NONE) conn = c;
        } catch {
          c.destroy();
        }
        return conn !== undefined;
      },
      { timeoutMs: 10_000, message: `a connection from ${from} once a slot is free` },
    );
    open.push(conn!);
    return conn!;
  }

  /** Opens a connection that the broker must close at once, without answering anything. */
  async function refused(from: string): Promise<void> {
    const c = await RawConnection.open(broker.port, from);
    await c.write(encodeRequest(18, 3, 1, { clientSoftwareName: 'refused', clientSoftwareVersion: '1' })).catch(() => {});
    expect(await c.waitForClose(), `a connection from ${from} over the limit is closed`).toBe('closed');
    expect(c.received).toEqual([]);
  }

  it('the connection over max.connections.per.ip is closed at accept; a freed slot can be used again', async () => {
    const first = await served('127.0.0.1');
    await served('127.0.0.1');
    await served('127.0.0.1');
    await refused('127.0.0.1');
    await refused('127.0.0.1');
    await refused('127.0.0.1');
    // one log line for the three refusals from this address
    await waitFor(() => /max\.connections\.per\.ip/.test(broker.stderr()), { message: 'the per-IP limit is logged' });
    expect(count(broker.stderr(), /closing a new connection from 127\.0\.0\.1 on listener PLAINTEXT: it has 3 connections, max\.connections\.per\.ip is 3/)).toBe(1);

    first.destroy();
    await servedOnceFreed('127.0.0.1');
  });

  it('an address with an override gets its own count; max.connections caps the broker as a whole', async () => {
    // 127.0.0.1 holds 3 now; 127.0.0.2 may have up to 5
    for (let i = 0; i < 3; i++) await served('127.0.0.2');
    // 3 + 3 = 6 = max.connections: the override would allow a 4th from 127.0.0.2, the broker does not
    await refused('127.0.0.2');
    await refused('127.0.0.2');
    await waitFor(() => /max\.connections is 6/.test(broker.stderr()), { message: 'the broker-wide limit is logged' });
    expect(count(broker.stderr(), /closing a new connection from 127\.0\.0\.2 on listener PLAINTEXT: the broker has 6 connections, max\.connections is 6/)).toBe(1);
    // the connections already accepted carry on
    for (const c of open.filter((x) => !x.isClosed)) expect(await apiVersions(c, 3)).toBe(ErrorCode.NONE);
    expect(broker.hasExited()).toBe(false);
  });
});

describe('connections.max.idle.ms', () => {
  const IDLE_MS = 1500;
  let broker: BrokerProcess;

  beforeAll(async () => {
    broker = await startBrokerProcess({ overrides: { 'connections.max.idle.ms': String(IDLE_MS) }, env: privateTmp() });
    const created = await kcat(['-b', broker.bootstrap, '-P', '-t', 'idle'], { input: 'first\n' });
    expect(created.code, created.stderr).toBe(0);
  });

  it('closes a connection that sent half a frame and went silent, and one that went quiet after a request', async () => {
    const half = await RawConnection.open(broker.port);
    const frame = encodeRequest(3, 4, 1, { topics: [{ name: 'idle' }], allowAutoTopicCreation: false });
    await half.write(frame.subarray(0, 10));
    const quiet = await RawConnection.open(broker.port);
    expect(await apiVersions(quiet, 1)).toBe(ErrorCode.NONE);
    expect(await half.waitForClose(15_000)).toBe('closed');
    expect(await quiet.waitForClose(15_000)).toBe('closed');
    expect(half.received).toEqual([]);
    await waitFor(() => /no complete request for \d+ ms \(connections\.max\.idle\.ms is 1500\)/.test(broker.stderr()), { message: 'the idle close is logged' });
    // both came from 127.0.0.1 within the interval: one log line
    expect(count(broker.stderr(), /connections\.max\.idle\.ms is 1500\)/)).toBe(1);
  });

  it('does not close a connection whose request takes longer than that (a long-polling Fetch)', async () => {
    const c = await RawConnection.open(broker.port);
    try {
      const maxWaitMs = IDLE_MS * 2;
      const fetch = {
        replicaId: -1,
        maxWaitMs,
        minBytes: 1_000_000, // never satisfied: the broker holds it for maxWaitMs
        maxBytes: 1 << 20,
        isolationLevel: 0,
        topics: [{ topic: 'idle', partitions: [{ partition: 0, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
      };
      await c.write(encodeRequest(1, 4, 7, fetch));
      const [frame] = await c.frames(1, 20_000);
      const { correlationId, body } = decodeResponse<{ responses: { partitions: { errorCode: number; records: Buffer | null }[] }[] }>(frame!, 1, 4);
      expect(correlationId).toBe(7);
      expect(body.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
      expect(body.responses[0]!.partitions[0]!.records!.length).toBeGreaterThan(0);
    } finally {
      c.destroy();
    }
  });

  it('does not close an active consumer', async () => {
    const consumer = spawnProcess('kcat', ['-b', broker.bootstrap, '-C', '-t', 'idle', '-o', 'beginning', '-u', '-q', '-f', '%s\\n']);
    try {
      await consumer.waitForOutput('first\n', { timeoutMs: 15_000 });
      await sleep(IDLE_MS * 2); // longer than the idle limit: the consumer's fetches keep its connection busy
      const produced = await kcat(['-b', broker.bootstrap, '-P', '-t', 'idle'], { input: 'second\n' });
      expect(produced.code, produced.stderr).toBe(0);
      await consumer.waitForOutput('second\n', { timeoutMs: 15_000 });
      expect(consumer.hasExited(), consumer.stderr()).toBe(false);
    } finally {
      await consumer.stop();
    }
  });
});

describe('queued requests and bytes', () => {
  let broker: BrokerProcess;
  const TOPIC = 'big';

  beforeAll(async () => {
    broker = await startBrokerProcess({ overrides: { 'queued.max.requests': '50' }, env: privateTmp() });
    // about 1 MB in the partition, so that each Fetch response is about 1 MB
    const line = 'v'.repeat(4000);
    const produced = await kcat(['-b', broker.bootstrap, '-P', '-t', TOPIC], { input: Array.from({ length: 250 }, () => line).join('\n') + '\n', timeoutMs: 60_000 });
    expect(produced.code, produced.stderr).toBe(0);
  });

  it('a client that pipelines 2000 one-megabyte Fetches and reads nothing keeps RSS bounded; others are served', async () => {
    const pid = broker.pid!;
    const before = await rssBytes(pid);
    const greedy = await RawConnection.open(broker.port);
    greedy.socket.pause(); // never read a response
    const fetch = {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 2 << 20,
      isolationLevel: 0,
      topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 2 << 20 }] }],
    };
    const requests = Buffer.concat(Array.from({ length: 2000 }, (_, i) => encodeRequest(1, 4, i, fetch, 'greedy')));
    greedy.socket.write(requests); // ~200 KB of requests; the responses would be ~2 GB
    const bystander = await RawConnection.open(broker.port);
    let peak = before;
    try {
      // while the greedy client holds its connection, memory stays put and everyone else is served
      for (let i = 0; i < 10; i++) {
        await sleep(300);
        peak = Math.max(peak, await rssBytes(pid));
        expect(await apiVersions(bystander, 100 + i, 5000)).toBe(ErrorCode.NONE);
      }
      const meta = await kcat(['-b', broker.bootstrap, '-L', '-t', TOPIC, '-J']);
      expect(meta.code, meta.stderr).toBe(0);
      expect(JSON.parse(meta.stdout).topics[0].partitions).toHaveLength(1);
    } finally {
      greedy.destroy();
      bystander.destroy();
    }
    // At most a few responses are in memory at a time (the one being written and the socket's buffers);
    // without back-pressure on handling, the broker would build hundreds of 1 MB responses.
    expect(peak - before, `RSS grew from ${before} to ${peak} bytes`).toBeLessThan(150 * 1024 * 1024);
    expect(broker.hasExited()).toBe(false);
    // and it still serves fetches afterwards
    const read = await kcat(['-b', broker.bootstrap, '-C', '-t', TOPIC, '-o', '-1', '-e', '-q', '-f', '%o\\n']);
    expect(read.stdout).toBe('249\n');
  });
});
