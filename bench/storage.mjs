#!/usr/bin/env node
/**
 * Storage engine benchmarks (the compiled log in dist/, so run `npm run build` first):
 *
 * - append MB/s: Log.append of ~1 MiB record batches (uncompressed, already validated as the produce path does),
 *   no fsync, against `dd if=/dev/zero of=<file in the same dir> bs=1M count=N`; and the fsync'ed variant
 *   (the appends then one Log.flush) against `dd ... conv=fdatasync`;
 * - sequential read MB/s: Log.read from the log start to the end, 1 MiB at a time (page cache warm: just written);
 * - recovery s/GiB: after the append run, a "crash" (the files closed without a flush, no clean-shutdown marker)
 *   and Log.open with recovery point 0, which re-validates every batch (size, magic, CRC-32C, offsets) and
 *   rebuilds both indexes; reported per GiB.
 *
 *   node bench/storage.mjs [--mib 1024] [--runs 3] [--batch-kib 1024] [--dir /tmp]
 *
 * Prints every run and the medians.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Log } = await import(path.join(root, 'dist/src/log/log.js'));
const { LogSegment } = await import(path.join(root, 'dist/src/log/log-segment.js'));
const { logConfig } = await import(path.join(root, 'dist/src/log/log-config.js'));
const { buildRecordBatch } = await import(path.join(root, 'dist/src/protocol/records.js'));

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const mib = Number(arg('mib', 1024));
const runs = Number(arg('runs', 3));
const batchKib = Number(arg('batch-kib', 1024));
const baseDir = arg('dir', os.tmpdir());

const MB = 1e6;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 1) => x.toFixed(d);

// one batch of ~batchKib KiB: records of 1000 bytes
const recordBytes = 1000;
const perBatch = Math.max(1, Math.floor((batchKib * 1024) / (recordBytes + 12)));
const payload = Buffer.alloc(recordBytes, 'x');
const template = buildRecordBatch(Array.from({ length: perBatch }, () => ({ key: null, value: payload, timestamp: Date.now() })));
const batchesTotal = Math.max(1, Math.round((mib * 1024 * 1024) / template.length));
const totalBytes = batchesTotal * template.length;

/** Writes back dirty pages first, so that no measurement pays for the previous one's writeback. */
const sync = () => spawnSync('sync');

function dd(file, extra) {
  sync();
  const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${Math.round(totalBytes / 1048576)}`, ...extra], { encoding: 'utf8' });
  fs.rmSync(file, { force: true });
  // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.74 s, 1.4 GB/s"
  const m = /(\d+) bytes.*copied, ([\d.]+) s/.exec(r.stderr);
  if (!m) throw new Error(`dd output not understood: ${r.stderr}`);
  return Number(m[1]) / Number(m[2]) / MB;
}

async function appendAll(dir) {
  const log = await Log.open(dir, { config: { segmentBytes: 1073741824 } });
  sync();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < batchesTotal; i++) log.append(template, 0, true);
  const t1 = process.hrtime.bigint();
  return { log, seconds: Number(t1 - t0) / 1e9 };
}

const results = { append: [], ddAppend: [], appendFsync: [], ddFsync: [], read: [], recovery: [], revalidate: [] };
console.log(`storage bench: ${fmt(totalBytes / 1048576, 0)} MiB as ${batchesTotal} batches of ${template.length} bytes (${perBatch} records of ${recordBytes} B), ${runs} runs, in ${baseDir}`);

for (let run = 1; run <= runs; run++) {
  const work = fs.mkdtempSync(path.join(baseDir, 'kfk-storage-bench-'));
  try {
    const dir = path.join(work, 'bench-0');
    // append, page cache only
    const { log, seconds } = await appendAll(dir);
    results.append.push(totalBytes / seconds / MB);
    results.ddAppend.push(dd(path.join(work, 'dd.bin'), []));

    // sequential read of what was just written
    let offset = 0;
    let bytes = 0;
    const r0 = process.hrtime.bigint();
    while (offset < log.logEndOffset) {
      const { records } = await log.read(offset, 1048576);
      bytes += records.length;
      // last offset of the last batch: baseOffset + lastOffsetDelta of the final batch in the slice
      let pos = 0;
      let last = offset;
      while (pos < records.length) {
        const size = records.readInt32BE(pos + 8) + 12;
        last = Number(records.readBigInt64BE(pos)) + records.readInt32BE(pos + 23);
        pos += size;
      }
      offset = last + 1;
    }
    const r1 = process.hrtime.bigint();
    results.read.push(bytes / (Number(r1 - r0) / 1e9) / MB);

    // crash: close without flush (no clean-shutdown marker), then recover everything from offset 0
    log.closeWithoutFlush();
    // the batch-by-batch re-validation alone (LogSegment.recover of the one 1 GiB segment)
    const s0 = process.hrtime.bigint();
    const seg = await LogSegment.open(dir, 0, logConfig({ segmentBytes: 1073741824 }));
    await seg.recover();
    const s1 = process.hrtime.bigint();
    seg.close();
    results.revalidate.push((Number(s1 - s0) / 1e9) / (totalBytes / 1073741824));
    const c0 = process.hrtime.bigint();
    const recovered = await Log.open(dir, { config: { segmentBytes: 1073741824 }, recoveryPoint: 0, hadCleanShutdown: false });
    const c1 = process.hrtime.bigint();
    if (recovered.logEndOffset !== batchesTotal * perBatch) throw new Error(`recovered ${recovered.logEndOffset} offsets, expected ${batchesTotal * perBatch}`);
    results.recovery.push((Number(c1 - c0) / 1e9) / (totalBytes / 1073741824));
    recovered.closeWithoutFlush();
    fs.rmSync(dir, { recursive: true, force: true });

    // append + one fsync at the end, against dd conv=fdatasync
    const f = await appendAll(path.join(work, 'bench-1'));
    const f0 = process.hrtime.bigint();
    await f.log.flush();
    const f1 = process.hrtime.bigint();
    results.appendFsync.push(totalBytes / (f.seconds + Number(f1 - f0) / 1e9) / MB);
    f.log.closeWithoutFlush();
    fs.rmSync(path.join(work, 'bench-1'), { recursive: true, force: true });
    results.ddFsync.push(dd(path.join(work, 'dd.bin'), ['conv=fdatasync']));

    console.log(
      `run ${run}: append ${fmt(results.append.at(-1))} MB/s (dd ${fmt(results.ddAppend.at(-1))}), ` +
        `append+fsync ${fmt(results.appendFsync.at(-1))} MB/s (dd conv=fdatasync ${fmt(results.ddFsync.at(-1))}), ` +
        `read ${fmt(results.read.at(-1))} MB/s, recovery ${fmt(results.recovery.at(-1), 2)} s/GiB (re-validation alone ${fmt(results.revalidate.at(-1), 2)})`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

console.log('medians:');
console.log(`  append (page cache)        ${fmt(median(results.append))} MB/s   dd bs=1M: ${fmt(median(results.ddAppend))} MB/s`);
console.log(`  append + fsync             ${fmt(median(results.appendFsync))} MB/s   dd bs=1M conv=fdatasync: ${fmt(median(results.ddFsync))} MB/s`);
console.log(`  sequential read            ${fmt(median(results.read))} MB/s`);
console.log(`  recovery (unclean start)   ${fmt(median(results.recovery), 2)} s/GiB (Log.open: re-validation, indexes, producer state, epochs)`);
console.log(`  re-validation alone        ${fmt(median(results.revalidate), 2)} s/GiB (LogSegment.recover)`);
