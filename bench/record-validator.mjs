#!/usr/bin/env node
/**
 * Cost of the produce path's record validation alone (no broker, no network), on batches shaped like kcat's in
 * bench/kcat-throughput.mjs: N records of S bytes (no key), one batch, for each codec. For each batch it times
 * - `header`: checkProducedBatchHeader (sizes, CRC-32C, counts: what the produce path did before issue 8), and
 * - `full`: validateProducedBatch (the header, then every record, inflating compressed batches once),
 * and prints the median of --runs runs, each validating the batch --iterations times, in CPU time of the process
 * (process.cpuUsage: user + system, all threads, so the thread pool's inflating counts too), which other load on a
 * shared machine disturbs much less than wall time.
 *
 *   npm run build && node bench/record-validator.mjs [--records 10000] [--size 100] [--runs 5] [--iterations 200]
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { buildRecordBatch } = await import(`${root}/dist/src/protocol/records.js`);
const { checkProducedBatchHeader, validateProducedBatch } = await import(`${root}/dist/src/protocol/record-validator.js`);

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const records = arg('records', 10000);
const size = arg('size', 100);
const runs = arg('runs', 5);
const iterations = arg('iterations', 200);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const value = Buffer.from('x'.repeat(size - 1) + '\n');
const input = Array.from({ length: records }, () => ({ key: null, value, timestamp: Date.now() }));
const rules = { maxMessageBytes: 64 << 20, cleanupPolicy: ['delete'] };

console.log(`${records} records x ${size} B per batch, ${iterations} validations per run, ${runs} runs, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`);
for (const [name, codec] of [['none', 0], ['gzip', 1], ['snappy', 2], ['lz4', 3], ['zstd', 4]]) {
  const batch = buildRecordBatch(input, { compression: codec });
  const time = async (fn) => {
    const per = [];
    for (let r = 0; r < runs; r++) {
      const t0 = process.cpuUsage();
      for (let i = 0; i < iterations; i++) {
        const v = await fn();
        if (v !== null && v.errorCode !== 0) throw new Error(`${name}: ${v.errorMessage}`);
      }
      const used = process.cpuUsage(t0);
      per.push((used.user + used.system) / 1e6 / iterations);
    }
    return median(per);
  };
  const header = await time(() => checkProducedBatchHeader(batch, rules.maxMessageBytes));
  const full = await time(() => validateProducedBatch(batch, rules));
  const recs = (s) => `${((records / s) / 1e6).toFixed(1)} M records/s`;
  console.log(
    `${name.padEnd(6)} batch ${String(batch.length).padStart(8)} B: header ${(header * 1e6).toFixed(0).padStart(6)} µs (${recs(header)}), full ${(full * 1e6).toFixed(0).padStart(6)} µs (${recs(full)}, ${((records * size) / full / 1e6).toFixed(0)} MB/s of records)`,
  );
}
