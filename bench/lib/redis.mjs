/**
 * Redis Streams as a peer: a redis-server (Debian's) with AOF on and fsync every second, a pipelined XADD load
 * and XRANGE reads by redis-benchmark (a C client, as kcat is for kfk), and an end-to-end latency probe (XADD on
 * one connection, XREAD BLOCK on another) that speaks RESP over a plain socket (no client library).
 */
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, run, startServer, stopServer } from './proc.mjs';

export async function startRedis(dir) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const proc = await startServer(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--protected-mode', 'no'],
    'Ready to accept connections',
  );
  return { port, proc, stop: () => stopServer(proc) };
}

/** XADD of `n` entries with one `size`-byte field, pipelined `pipeline` deep by one client: records/s. */
export async function redisProduce(port, n, size, pipeline = 100) {
  const value = 'x'.repeat(size);
  const res = await run('redis-benchmark', ['-p', String(port), '-c', '1', '-P', String(pipeline), '-n', String(n), '-q', 'XADD', 'bench', '*', 'v', value]);
  if (res.code !== 0) throw new Error(`redis-benchmark failed: ${res.stderr}`);
  // "XADD bench * v xxx...: 312500.00 requests per second, p50=..."
  const m = /([\d.]+) requests per second/.exec(res.stdout);
  if (!m) throw new Error(`redis-benchmark: no rate in ${res.stdout.slice(0, 300)}`);
  return { recordsPerSec: Number(m[1]), seconds: n / Number(m[1]) };
}

/** A minimal RESP connection: send commands, receive parsed replies (arrays, bulk strings, integers, errors). */
class Resp {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.chunks = [];
    this.buffered = 0;
    /** Parse again only once this many bytes are buffered: a large reply is parsed O(size) times in all, not O(size²). */
    this.nextAttempt = 0;
    this.waiters = [];
    socket.on('data', (d) => {
      this.chunks.push(d);
      this.buffered += d.length;
      // a reply ends with CRLF: parse when a chunk does, or when the buffer has doubled since the last attempt
      const endsLine = d.length >= 2 && d[d.length - 2] === 13 && d[d.length - 1] === 10;
      if (!endsLine && this.buffered < this.nextAttempt) return;
      this.buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [this.buf];
      this.drain();
    });
  }

  static open(port) {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new Resp(s)));
      s.setNoDelay(true);
      s.once('error', reject);
    });
  }

  command(...args) {
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
    this.socket.write(out);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  drain() {
    while (this.waiters.length > 0) {
      const r = this.buf.length === 0 ? null : parse(this.buf, 0);
      if (r === null) {
        this.nextAttempt = this.buffered * 2;
        return;
      }
      this.buf = this.buf.subarray(r.end);
      this.chunks = this.buf.length ? [this.buf] : [];
      this.buffered = this.buf.length;
      this.nextAttempt = 0;
      const w = this.waiters.shift();
      if (r.value instanceof Error) w.reject(r.value);
      else w.resolve(r.value);
    }
  }

  close() {
    this.socket.destroy();
  }
}

/** Parses one RESP value at pos: { value, end }, or null when incomplete. Bulk strings stay Buffers. */
function parse(buf, pos) {
  const nl = buf.indexOf('\r\n', pos);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('latin1', pos + 1, nl);
  const next = nl + 2;
  if (type === '+') return { value: line, end: next };
  if (type === '-') return { value: new Error(line), end: next };
  if (type === ':') return { value: Number(line), end: next };
  if (type === '$') {
    const len = Number(line);
    if (len < 0) return { value: null, end: next };
    if (buf.length < next + len + 2) return null;
    return { value: buf.subarray(next, next + len), end: next + len + 2 };
  }
  if (type === '*') {
    const count = Number(line);
    if (count < 0) return { value: null, end: next };
    const items = new Array(count);
    let p = next;
    for (let i = 0; i < count; i++) {
      const r = parse(buf, p);
      if (r === null) return null;
      items[i] = r.value;
      p = r.end;
    }
    return { value: items, end: p };
  }
  throw new Error(`unexpected RESP type ${type}`);
}

/**
 * Reading, with the same C client as the load: XRANGE of 10,000 entries, `expected / 10000` times, one connection
 * (redis-benchmark repeats one command, so each reads the stream's first 10,000 entries; the server's work per
 * entry is that of a reader paging through the stream). Entries/s.
 */
export async function redisConsume(port, expected) {
  const requests = Math.max(1, Math.round(expected / 10000));
  const res = await run('redis-benchmark', ['-p', String(port), '-c', '1', '-n', String(requests), '-q', 'XRANGE', 'bench', '-', '+', 'COUNT', '10000']);
  if (res.code !== 0) throw new Error(`redis-benchmark failed: ${res.stderr}`);
  const m = /([\d.]+) requests per second/.exec(res.stdout);
  if (!m) throw new Error(`redis-benchmark: no rate in ${res.stdout.slice(0, 300)}`);
  const perSec = Number(m[1]) * 10000;
  return { records: requests * 10000, seconds: (requests * 10000) / perSec };
}

/**
 * End-to-end latency at `rate` entries/s: one connection XADDs entries whose value starts with the send time, the
 * other waits in XREAD BLOCK and computes each entry's latency. Resolves with the latencies in ms.
 */
export async function redisLatency(port, n, rate, size = 100) {
  const producer = await Resp.open(port);
  const consumer = await Resp.open(port);
  const latencies = [];
  let last = '$';
  let done = false;
  const reading = (async () => {
    while (!done && latencies.length < n) {
      const reply = await consumer.command('XREAD', 'BLOCK', 1000, 'COUNT', 1000, 'STREAMS', 'latency', last);
      const now = performance.now();
      if (!reply) continue;
      for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          latencies.push(now - Number(fields[1].toString('latin1', 0, 20).trim()));
          last = id.toString();
        }
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 200)); // the reader is blocked in XREAD before the first entry
  const start = performance.now();
  const pad = 'x'.repeat(Math.max(0, size - 20));
  for (let i = 0; i < n; i++) {
    const ahead = (i * 1000) / rate - (performance.now() - start);
    if (ahead >= 1) await new Promise((r) => setTimeout(r, ahead));
    void producer.command('XADD', 'latency', '*', 'v', String(performance.now()).padEnd(20, ' ') + pad);
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  done = true;
  await reading.catch(() => {}); // XREAD BLOCK returns within a second
  producer.close();
  consumer.close();
  return latencies.slice(0, n);
}

export function redisDir(root) {
  return join(root, 'redis');
}
