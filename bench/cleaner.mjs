#!/usr/bin/env node
/**
 * Log cleaner throughput: a compacted partition log of about --mb MiB (records of --size bytes, --keys distinct
 * keys, --batch records per batch, --codec compression, segments of --segment MiB) is written with Log.append, then
 * cleaned once with cleanLog (offset map over the dirty segments, every non-active segment rewritten and swapped
 * in). MB/s = bytes of log read by the clean (map pass + rewrite pass counted once: the size of the cleaned
 * segments) / seconds. Also the event loop's delay while the clean runs (perf_hooks.monitorEventLoopDelay): how long
 * other work (produce, fetch) could wait behind it, since the cleaner yields every batchesPerSlice batches.
 * Uses the compiled modules in dist/ (`npm run build`).
 *
 *   node bench/cleaner.mjs [--mb 256] [--size 100] [--keys 100000] [--batch 100] [--codec none] [--segment 64] [--runs 3]
 *
 * Prints each run and the median.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => new URL(`file://${join(root, 'dist', p)}`).href;
const { Log } = await import(dist('src/log/log.js'));
const { cleanLog, cleanableRange } = await import(dist('src/log/log-cleaner.js'));
const { buildRecordBatch } = await import(dist('src/protocol/records.js'));
const { compressionFromName } = await import(dist('src/protocol/compression.js'));

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const mb = Number(arg('mb', 256));
const size = Number(arg('size', 100));
const keys = Number(arg('keys', 100000));
const perBatch = Number(arg('batch', 100));
const codecName = arg('codec', 'none');
const segmentMb = Number(arg('segment', 64));
const runs = Number(arg('runs', 3));
const codec = compressionFromName(codecName);

async function run(i) {
  const dir = mkdtempSync(join(tmpdir(), 'kfk-bench-cleaner-'));
  try {
    const log = await Log.open(join(dir, 'bench-0'), {
      config: { cleanupPolicy: ['compact'], segmentBytes: segmentMb << 20, fileDeleteDelayMs: 0, minCleanableDirtyRatio: 0 },
    });
    // values: hex text from a pool of random ones (compresses about 2:1, like text payloads)
    const pool = Array.from({ length: 1024 }, () => Buffer.from(randomBytes(Math.ceil(Math.max(0, size - 12) / 2)).toString('hex').slice(0, Math.max(0, size - 12))));
    let n = 0;
    const now = Date.now();
    while (log.size < mb << 20) {
      const records = [];
      for (let j = 0; j < perBatch; j++, n++) {
        records.push({ key: Buffer.from(`key-${String(n % keys).padStart(8, '0')}`), value: pool[n % 1021], timestamp: now });
      }
      log.append(buildRecordBatch(records, { compression: codec }));
    }
    log.roll();
    log.append(buildRecordBatch([{ key: Buffer.from('last'), value: pool[0], timestamp: now }]));
    await log.flush();
    const before = log.size;
    const range = await cleanableRange(log, undefined);
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const t0 = performance.now();
    const stats = await cleanLog(log, range);
    const secs = (performance.now() - t0) / 1000;
    loopDelay.disable();
    const delayMs = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    const cleanedBytes = before - log.activeSegment.size;
    const mbps = cleanedBytes / 1e6 / secs;
    console.log(
      `run ${i}: ${(cleanedBytes / 1e6).toFixed(1)} MB, ${n} records -> ${stats.recordsKept} kept, ` +
        `${stats.segmentsCleaned} segments -> ${log.segments.length - 1}, ${secs.toFixed(2)} s, ${mbps.toFixed(1)} MB/s, ` +
        `${Math.round(n / secs).toLocaleString('en-US')} records/s, event loop delay p99 ${delayMs.p99.toFixed(1)} ms, ` +
        `max ${delayMs.max.toFixed(1)} ms`,
    );
    await log.close();
    return { mbps, rps: n / secs, delayP99: delayMs.p99, delayMax: delayMs.max };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `cleaner bench: ${mb} MiB log, ${size}-byte records, ${keys} keys, ${perBatch} records/batch, codec ${codecName}, ` +
    `${segmentMb} MiB segments; ${cpus().length} cores ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
const results = [];
for (let i = 1; i <= runs; i++) results.push(await run(i));
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `median: ${median(results.map((r) => r.mbps)).toFixed(1)} MB/s, ${Math.round(median(results.map((r) => r.rps))).toLocaleString('en-US')} records/s, ` +
    `event loop delay p99 ${median(results.map((r) => r.delayP99)).toFixed(1)} ms, max ${median(results.map((r) => r.delayMax)).toFixed(1)} ms`,
);
