/**
 * NATS JetStream as a peer: Debian's nats-server with JetStream on and a file-backed stream, driven by the `nats`
 * npm client (as kfk perf is driven by kfk's own client): publishes acknowledged by the stream with up to `window`
 * in flight, a pull consumer fetching 10,000 messages at a time, and an end-to-end latency probe (an ordered
 * consumer receiving what one connection publishes at a set rate).
 */
import { mkdirSync } from 'node:fs';
import { freePort, startServer, stopServer } from './proc.mjs';

let natsLib;
async function lib() {
  natsLib ??= await import('nats');
  return natsLib;
}

export async function startNats(dir) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const proc = await startServer('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], 'Server is ready');
  return { port, proc, stop: () => stopServer(proc) };
}

async function withStream(port, name, fn) {
  const { connect, StorageType } = await lib();
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File }).catch(async (err) => {
      if (!/already in use/.test(String(err))) throw err;
    });
    return await fn(nc, jsm);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

/** Publishes `n` messages of `size` bytes, each acknowledged by the stream, `window` at a time: records/s. */
export async function natsProduce(port, n, size, window = 1000) {
  return withStream(port, 'bench', async (nc) => {
    const js = nc.jetstream();
    const data = Buffer.alloc(size, 'x');
    const t0 = performance.now();
    let inFlight = [];
    for (let i = 0; i < n; i++) {
      inFlight.push(js.publish('bench.x', data));
      if (inFlight.length >= window) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - t0) / 1000;
    return { recordsPerSec: n / seconds, seconds };
  });
}

/** Reads the stream from the start with a pull consumer, 10,000 messages per fetch: { records, seconds }. */
export async function natsConsume(port, expected) {
  const { AckPolicy, DeliverPolicy } = await lib();
  return withStream(port, 'bench', async (nc, jsm) => {
    await jsm.consumers.add('bench', { durable_name: 'reader', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    const consumer = await nc.jetstream().consumers.get('bench', 'reader');
    const t0 = performance.now();
    let count = 0;
    while (count < expected) {
      const batch = await consumer.fetch({ max_messages: 10_000, expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        void m;
        got++;
      }
      count += got;
      if (got === 0) break;
    }
    return { records: count, seconds: (performance.now() - t0) / 1000 };
  });
}

/** End-to-end latency at `rate` messages/s through a file-backed stream and an ordered consumer: ms each. */
export async function natsLatency(port, n, rate, size = 100) {
  return withStream(port, 'latency', async (nc) => {
    const js = nc.jetstream();
    const consumer = await js.consumers.get('latency'); // ordered consumer from the current end
    const messages = await consumer.consume();
    const latencies = [];
    const reading = (async () => {
      for await (const m of messages) {
        latencies.push(performance.now() - new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength).getFloat64(0));
        if (latencies.length >= n) break;
      }
    })();
    const start = performance.now();
    const pending = [];
    for (let i = 0; i < n; i++) {
      const ahead = (i * 1000) / rate - (performance.now() - start);
      if (ahead >= 1) await new Promise((r) => setTimeout(r, ahead));
      const data = Buffer.alloc(size, 'x');
      data.writeDoubleBE(performance.now(), 0);
      pending.push(js.publish('latency.x', data));
    }
    await Promise.all(pending);
    const deadline = Date.now() + 10_000;
    while (latencies.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    messages.stop();
    await reading.catch(() => {});
    return latencies.slice(0, n);
  });
}
