#!/usr/bin/env node
/**
 * How long the event loop stalls while a 1 GiB bomb is inflated up to the produce path's limit, synchronously
 * (`decompress`, one blocking call) versus asynchronously (`decompressAsync`: gzip on libuv's thread pool, zstd
 * in 256 KiB steps with a yield between them) versus in a worker thread (node:worker_threads running the
 * synchronous `decompress`, the batch copied to it): a 1 ms interval timer records the longest gap between its
 * ticks.
 * This is the measurement behind the choice in docs/protocol.md ("Validation never stalls other clients").
 *
 *   npm run build && node bench/inflate-stall.mjs [--limit-mib 64] [--runs 3]
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Worker } from 'node:worker_threads';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { decompress, decompressAsync, InflateLimitError } = await import(`${root}/dist/src/protocol/compression.js`);
const zstd = (await import('zstd-napi/binding.js')).default;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const limit = arg('limit-mib', 64) << 20;
const runs = arg('runs', 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ZEROS = Buffer.alloc(1 << 20);
const gzip = Buffer.concat(Array(1024).fill(gzipSync(ZEROS, { level: 9 })));
const cctx = new zstd.CCtx();
const parts = [];
const dst = Buffer.alloc(1 << 16);
for (let i = 0; i <= 1024; i++) {
  let src = i < 1024 ? ZEROS : Buffer.alloc(0);
  const end = i === 1024;
  for (;;) {
    const [remaining, written, consumed] = cctx.compressStream2(dst, src, end ? zstd.EndDirective.end : zstd.EndDirective.continue);
    parts.push(Buffer.from(dst.subarray(0, written)));
    src = src.subarray(consumed);
    if (end ? remaining === 0 : src.length === 0) break;
  }
}
const zst = Buffer.concat(parts);

// A worker that inflates with the synchronous decompress and answers with the output size or the error's name.
const worker = new Worker(
  `const { parentPort } = require('node:worker_threads');
   import(${JSON.stringify(`${root}/dist/src/protocol/compression.js`)}).then(({ decompress }) => {
     parentPort.on('message', ({ codec, body, limit }) => {
       try { parentPort.postMessage({ size: decompress(codec, Buffer.from(body), limit).length }); }
       catch (err) { parentPort.postMessage({ error: err.name }); }
     });
     parentPort.postMessage({ ready: true });
   });`,
  { eval: true },
);
await new Promise((r) => worker.once('message', r));
const inWorker = (codec, body, limit) =>
  new Promise((resolve, reject) => {
    worker.once('message', (m) => (m.error === 'InflateLimitError' ? reject(new InflateLimitError(limit)) : m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.postMessage({ codec, body, limit });
  });

async function measure(fn) {
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  last = performance.now();
  maxGap = 0;
  const t0 = performance.now();
  try {
    await fn();
    throw new Error('the bomb inflated within the limit');
  } catch (err) {
    if (!(err instanceof InflateLimitError)) throw err;
  }
  const total = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return { total, maxGap };
}

console.log(`1 GiB of zeros, refused at ${limit >> 20} MiB; median of ${runs} runs; Node ${process.version}`);
for (const [name, codec, body] of [['gzip', 1, gzip], ['zstd', 4, zst]]) {
  for (const mode of ['sync', 'async', 'worker']) {
    const rs = [];
    for (let i = 0; i < runs; i++) {
      const fn =
        mode === 'sync' ? async () => decompress(codec, body, limit) : mode === 'async' ? () => decompressAsync(codec, body, limit) : () => inWorker(codec, body, limit);
      rs.push(await measure(fn));
    }
    console.log(`${name} ${mode.padEnd(5)}: refused after ${median(rs.map((r) => r.total)).toFixed(0)} ms, longest event-loop stall ${median(rs.map((r) => r.maxGap)).toFixed(1)} ms`);
  }
}
await worker.terminate();
