#!/usr/bin/env node
/**
 * Requests per second through the broker's request path (framing, RequestRunner, a handler, encoding), with
 * small requests so that the per-request cost dominates: one raw connection keeps `--window` Metadata v1
 * requests (no topics) in flight until `--requests` have been answered. Reports the median of `--runs`.
 *
 *   node bench/request-rate.mjs [--requests 200000] [--window 100] [--runs 5] [--root DIR]
 *
 * --root runs the broker of another checkout (its bin/kfk.js and dist/), to compare two builds on the
 * same machine in the same session.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const REQUESTS = Number(opt('requests', 200_000));
const WINDOW = Number(opt('window', 100));
const RUNS = Number(opt('runs', 5));
const ROOT = path.resolve(opt('root', path.join(path.dirname(fileURLToPath(import.meta.url)), '..')));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startBroker() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'kfk-bench-rate-'));
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'kfk.js'), 'server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: dir },
  });
  await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('started (')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  return { port, stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGTERM'); }).then(() => rmSync(dir, { recursive: true, force: true })) };
}

/** Metadata v1, client id "bench", topics [] (header v1). */
function metadataRequest(correlationId) {
  const clientId = Buffer.from('bench');
  const b = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length + 4);
  let p = 0;
  p = b.writeInt32BE(b.length - 4, p);
  p = b.writeInt16BE(3, p);
  p = b.writeInt16BE(1, p);
  p = b.writeInt32BE(correlationId, p);
  p = b.writeInt16BE(clientId.length, p);
  p += clientId.copy(b, p);
  b.writeInt32BE(0, p);
  return b;
}

function run(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    let sent = 0;
    let answered = 0;
    let pending = Buffer.alloc(0);
    let start = 0;
    const send = (n) => {
      const frames = [];
      for (let i = 0; i < n && sent < REQUESTS; i++) frames.push(metadataRequest(sent++));
      if (frames.length) s.write(Buffer.concat(frames));
    };
    s.on('connect', () => {
      start = process.hrtime.bigint();
      send(WINDOW);
    });
    s.on('data', (d) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      let p = 0;
      let got = 0;
      while (pending.length - p >= 4 && pending.length - p >= 4 + pending.readInt32BE(p)) {
        p += 4 + pending.readInt32BE(p);
        got++;
      }
      pending = pending.subarray(p);
      answered += got;
      if (answered === REQUESTS) {
        const secs = Number(process.hrtime.bigint() - start) / 1e9;
        s.destroy();
        resolve(REQUESTS / secs);
      } else send(got);
    });
    s.on('error', reject);
  });
}

const broker = await startBroker();
try {
  await run(broker.port); // warm-up
  const rates = [];
  for (let i = 0; i < RUNS; i++) rates.push(await run(broker.port));
  const sorted = [...rates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`${ROOT}: median ${Math.round(median)} requests/s (runs: ${rates.map((r) => Math.round(r)).join(', ')})`);
} finally {
  await broker.stop();
}
