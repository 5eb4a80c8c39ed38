/**
 * Back-pressure on one connection: a client that pipelines requests and does not read its responses for a while.
 * The broker holds a bounded number of response bytes for it (it stops handling that client's requests while the
 * socket cannot take more, as Kafka mutes the channel) and, once the client reads again, answers every request,
 * in order.
 *
 * What the broker holds for the client is measured where it is held: the write buffer of the broker's own socket
 * (`writableLength`, the bytes accepted by socket.write() and not yet taken by the kernel). The broker runs in this
 * process, so a spy on net.Socket's write() sees every response the broker writes.
 */
import { Socket, connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProducer, startBroker, type StartedBroker } from '../../src/index.js';
import { Writer } from '../../src/protocol/primitives.js';
import { writeRequestHeader, sizeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { sizeFetchRequest, writeFetchRequest } from '../../src/protocol/generated/fetch.js';
import { quietPeriod, waitFor } from '../helpers/wait.js';

const TOPIC = 'bp';
const RECORD_BYTES = 4096;
const RECORDS = 256; // 1 MiB in partition 0

/** A request frame (size prefix, header v1, body) for api `apiKey` version `version`. */
function requestFrame(apiKey: number, version: number, correlationId: number, bodySize: number, writeBody: (w: Writer) => void): Buffer {
  const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'bp' };
  const size = sizeRequestHeader(header, 1) + bodySize;
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, 1);
  writeBody(w);
  return w.buf;
}

/** Correlation ids and sizes of the complete response frames in `chunks`. */
function responseFrames(chunks: Buffer[]): { correlationId: number; size: number }[] {
  const buf = Buffer.concat(chunks);
  const out: { correlationId: number; size: number }[] = [];
  for (let p = 0; p + 8 <= buf.length; ) {
    const size = buf.readInt32BE(p);
    if (p + 4 + size > buf.length) break;
    out.push({ correlationId: buf.readInt32BE(p + 4), size: 4 + size });
    p += 4 + size;
  }
  return out;
}

/** Watches every write the broker makes to the client connected from `clientPort`. */
function watchBrokerWrites(brokerPort: number) {
  const seen = { clientPort: -1, writes: 0, refused: 0, peakBuffered: 0 };
  const write = Socket.prototype.write;
  const spy = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: Parameters<Socket['write']>) {
    const accepted = write.apply(this, args);
    if (this.localPort === brokerPort && this.remotePort === seen.clientPort) {
      seen.writes++;
      if (!accepted) seen.refused++;
      seen.peakBuffered = Math.max(seen.peakBuffered, this.writableLength);
    }
    return accepted;
  });
  return { seen, restore: () => spy.mockRestore() };
}

describe('connection back-pressure', () => {
  let broker: StartedBroker;
  let watch: ReturnType<typeof watchBrokerWrites> | undefined;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    broker = await startBroker({ config: { 'num.partitions': '1' } });
    const producer = createProducer({ bootstrap: broker.bootstrap });
    const value = Buffer.alloc(RECORD_BYTES, 'v');
    await Promise.all(Array.from({ length: RECORDS }, (_, i) => producer.send(TOPIC, { key: `k${i}`, value, partition: 0 })));
    await producer.close();
  });
  afterEach(() => {
    watch?.restore();
    watch = undefined;
    for (const s of sockets.splice(0)) s.destroy();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  async function pausedClient(): Promise<Socket> {
    const socket = connect(broker.port, '127.0.0.1');
    sockets.push(socket);
    await new Promise((r) => socket.once('connect', r));
    socket.pause();
    return socket;
  }

  it('holds at most about one response for a client that does not read, then answers every request in order', async () => {
    // 100 pipelined Fetch requests, each answered with the whole 1 MiB partition: 100 MiB of responses, which a
    // broker that went on handling requests while the client does not read would pile up in its write buffer.
    const n = 100;
    const fetch = {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [{ topic: TOPIC, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    };
    const frames = Array.from({ length: n }, (_, i) =>
      requestFrame(1, 4, i, sizeFetchRequest(fetch, 4), (w) => writeFetchRequest(w, fetch, 4)),
    );
    watch = watchBrokerWrites(broker.port);
    const socket = await pausedClient();
    watch.seen.clientPort = socket.localPort!;
    socket.write(Buffer.concat(frames));

    // The broker's socket refuses more (its write buffer and the kernel's are full): the client is not reading.
    await waitFor(() => watch!.seen.refused > 0, { timeoutMs: 30_000, message: "the broker's socket to fill up" });
    // Negative check: while the client still does not read, the broker must not go on writing responses it
    // cannot send (it has 90+ more requests of this client queued).
    await quietPeriod(500);
    const heldWhilePaused = watch.seen.peakBuffered;
    const writesWhilePaused = watch.seen.writes;

    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    await waitFor(() => responseFrames(chunks).length === n, { timeoutMs: 60_000, message: `all ${n} responses` });
    const responses = responseFrames(chunks);
    expect(responses.map((r) => r.correlationId)).toEqual(Array.from({ length: n }, (_, i) => i));
    const largest = Math.max(...responses.map((r) => r.size));
    expect(largest).toBeGreaterThan((RECORDS * RECORD_BYTES) / 2); // each carries (nearly) the whole partition

    // Bounded: beyond what the socket already had, at most one more response was accepted while blocked
    // (socket.write() takes a whole response even when it is over the high-water mark) ...
    expect(heldWhilePaused).toBeLessThanOrEqual(largest + socket.writableHighWaterMark + 64 * 1024);
    // ... and most of the requests were handled only after the client read again.
    expect(writesWhilePaused).toBeLessThan(n / 2);
  });

  it('answers 5000 pipelined requests in order after the client resumes reading', async () => {
    const n = 5000;
    // Metadata v1 with an empty topic list: many small requests, more than a connection may have queued.
    const frames = Array.from({ length: n }, (_, i) => requestFrame(3, 1, i, 4, (w) => w.int32(0)));
    watch = watchBrokerWrites(broker.port);
    const socket = await pausedClient();
    watch.seen.clientPort = socket.localPort!;
    socket.write(Buffer.concat(frames));
    await waitFor(() => watch!.seen.writes > 0, { message: 'the broker to answer while the client does not read' });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    await waitFor(() => responseFrames(chunks).length === n, { timeoutMs: 30_000, message: 'all responses' });
    expect(responseFrames(chunks).map((r) => r.correlationId)).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});
