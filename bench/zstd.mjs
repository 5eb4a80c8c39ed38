#!/usr/bin/env node
/**
 * zstd for record batches: the zstd-napi package (what src/protocol/compression.ts uses) against Node's own
 * zlib.zstdCompressSync / zstdDecompressSync (Node >= 22.15 and 24). Each codec compresses and decompresses the same
 * record-batch-sized payloads (--kb KiB of Kafka-like records: short keys, JSON-ish text values) --iterations times;
 * MB/s = uncompressed bytes / seconds. Same compression level for both (zstd's default, 3).
 *
 *   node bench/zstd.mjs [--kb 64] [--iterations 2000] [--runs 3]
 *
 * Prints each run and the medians. Run it under each supported Node line.
 */
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';

const require = createRequire(import.meta.url);
const napi = require('zstd-napi');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const kb = arg('kb', 64);
const iterations = arg('iterations', 2000);
const runs = arg('runs', 3);

if (typeof zlib.zstdCompressSync !== 'function') {
  console.log(`Node ${process.version} has no zlib zstd (it came in Node 22.15 and 24): nothing to compare`);
  process.exit(0);
}

// Kafka-like records: a key and a JSON-ish value with some repetition, as text payloads compress.
const parts = [];
for (let i = 0, size = 0; size < kb * 1024; i++) {
  const rec = `key-${i % 997}\u0000{"id":${i},"user":"user-${i % 113}","event":"${['click', 'view', 'buy'][i % 3]}","ts":${1700000000000 + i * 17}}\n`;
  parts.push(rec);
  size += rec.length;
}
const payload = Buffer.from(parts.join('')).subarray(0, kb * 1024);

const codecs = {
  'zstd-napi': { compress: (b) => napi.compress(b), decompress: (b) => napi.decompress(b) },
  'node:zlib': {
    compress: (b) => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } }),
    decompress: (b) => zlib.zstdDecompressSync(b),
  },
};

// Both directions must agree: each codec reads what the other writes (standard zstd frames).
for (const [a, ca] of Object.entries(codecs)) {
  for (const [b, cb] of Object.entries(codecs)) {
    if (!cb.decompress(ca.compress(payload)).equals(payload)) throw new Error(`${b} cannot read ${a}'s frame`);
  }
}

function time(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const mb = (payload.length * iterations) / 1e6;
const results = {};
console.log(`zstd bench: ${kb} KiB payload x ${iterations}, ${runs} runs, Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
for (let run = 1; run <= runs; run++) {
  for (const [name, c] of Object.entries(codecs)) {
    const compressed = c.compress(payload);
    const cs = time(() => c.compress(payload));
    const ds = time(() => c.decompress(compressed));
    (results[name] ??= []).push({ c: mb / cs, d: mb / ds, ratio: payload.length / compressed.length });
    console.log(`run ${run} ${name}: compress ${(mb / cs).toFixed(0)} MB/s, decompress ${(mb / ds).toFixed(0)} MB/s, ratio ${(payload.length / compressed.length).toFixed(2)}`);
  }
}
for (const [name, rs] of Object.entries(results)) {
  console.log(
    `median ${name}: compress ${median(rs.map((r) => r.c)).toFixed(0)} MB/s, decompress ${median(rs.map((r) => r.d)).toFixed(0)} MB/s, ratio ${rs[0].ratio.toFixed(2)}`,
  );
}
