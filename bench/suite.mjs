#!/usr/bin/env node
/**
 * The benchmark suite: every figure of docs/benchmarks.md's "Suite" section, measured in one run on this machine,
 * each peer in the same run, and the section rewritten with the results.
 *
 *   npm run build && node bench/suite.mjs [--runs 3] [--records 1000000] [--no-write] [--only produce,consume,e2e,cli,peers]
 *
 * Needs kcat; the peers need Debian's redis-server (redis-benchmark) and nats-server, and hyperfine is used for
 * the CLI timings when present (apt-get install redis-server nats-server hyperfine); a missing one is skipped
 * with a printed note. Every broker and server runs as its own process on a free loopback port with a fresh
 * data dir under the OS temp dir, removed at the end.
 *
 * What is measured (medians of --runs runs, each on a fresh broker):
 * - produce: kcat -P -l (librdkafka: linger.ms=5, batch.num.messages=10000) and kfk perf produce
 *   (batch.size=1048576, linger.ms=5), records/s and MB/s, for 100 B records / 1 partition / acks=1 / no
 *   compression, then each of: 1 KiB records, acks=all, 6 partitions, lz4. acks=all runs on `kfk server start
 *   --brokers 3` with replication factor 3 when that exists, else on one broker (noted);
 * - consume: kcat -C -c N -e and kfk perf consume (fetch.nMsg.sec: without the group join) of what kcat produced;
 * - the same loads against Redis Streams (redis-benchmark: XADD pipelined 100 deep, AOF fsync every second; XRANGE
 *   COUNT 10000) and NATS JetStream (file-backed stream, `nats` npm client, 1000 publishes in flight; pull consumer);
 * - end-to-end latency at 1,000 and 10,000 records/s: kfk perf e2e --throughput (after one second of warm-up
 *   records), Redis (XADD / XREAD BLOCK) and NATS (publish / ordered consumer), p50 / p99 / p99.9;
 * - CLI start-up: `node -e 0`, `kfk --version`, `kfk topics --list` (hyperfine, 3 warm-ups, 15 runs, medians);
 * - broker RSS: idle after start, and the largest seen during the produce and consume runs of the first config.
 */
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, memory, peakRss, run, startServer, stopServer } from './lib/proc.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KFK = join(root, 'bin/kfk.js');
const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const RUNS = Number(arg('runs', 3));
const RECORDS = Number(arg('records', 1_000_000));
const WRITE = !argv.includes('--no-write');
const ONLY = new Set(String(arg('only', 'produce,consume,e2e,cli,peers')).split(','));
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const work = mkdtempSync(join(tmpdir(), 'kfk-suite-'));
const notes = [];
const note = (text) => {
  notes.push(text);
  console.log(`note: ${text}`);
};
const loadBefore = loadavg();
const startedAt = new Date();

// ---------------------------------------------------------------------------------------------------
// kfk brokers

let clusterSupported;
/** Whether `kfk server start --brokers 3` exists (the cluster work); probed once. */
async function clusterAvailable() {
  if (clusterSupported !== undefined) return clusterSupported;
  const dir = mkdtempSync(join(work, 'probe-'));
  const port = await freePort();
  try {
    const p = await startServer(process.execPath, [KFK, 'server', 'start', '--brokers', '3', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}`], 'started (', { timeoutMs: 30_000 });
    await stopServer(p);
    clusterSupported = true;
  } catch (err) {
    clusterSupported = false;
    note(`\`kfk server start --brokers 3\` is not available on this build (${String(err.message).split('\n').find((l) => /brokers/.test(l)) ?? 'it did not start'}): acks=all runs on one broker, replication factor 1`);
  }
  return clusterSupported;
}

async function startKfk({ brokers = 1 } = {}) {
  const dir = mkdtempSync(join(work, 'kfk-'));
  for (let attempt = 1; ; attempt++) {
    // --brokers N takes consecutive ports from the listener's: a random run of them, below Linux's ephemeral range
    const port = brokers > 1 ? 20000 + Math.floor(Math.random() * 12000) : await freePort();
    const args = [KFK, 'server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}`, '--override', 'group.initial.rebalance.delay.ms=0'];
    if (brokers > 1) args.push('--brokers', String(brokers));
    try {
      const proc = await startServer(process.execPath, args, 'started (');
      return { proc, port, bootstrap: `127.0.0.1:${port}`, dir, stop: () => stopServer(proc) };
    } catch (err) {
      // another process took a port between our choice and the broker's listen: choose again
      if (attempt >= 5 || !/address already in use/.test(String(err.message))) throw err;
    }
  }
}

async function kfkOk(args, opts) {
  const res = await run(process.execPath, [KFK, ...args], opts);
  if (res.code !== 0) throw new Error(`kfk ${args.join(' ')}: exit ${res.code}\n${res.stderr}`);
  return res;
}

const inputFiles = new Map();
function inputFile(size, records) {
  const key = `${size}x${records}`;
  if (!inputFiles.has(key)) {
    const file = join(work, `input-${key}.txt`);
    const line = Buffer.alloc(size, 'x');
    line[size - 1] = 10; // kcat -l: one record per line, the newline not included (size - 1 bytes of value)
    const chunk = Buffer.concat(Array.from({ length: 1000 }, () => line));
    const parts = [];
    for (let i = 0; i < records / 1000; i++) parts.push(chunk);
    writeFileSync(file, Buffer.concat(parts));
    inputFiles.set(key, file);
  }
  return inputFiles.get(key);
}

// ---------------------------------------------------------------------------------------------------
// One configuration: kcat and kfk's client, producing and consuming

const CONFIGS = [
  { name: '100 B, 1 partition, acks=1, none', size: 100, acks: '1', partitions: 1, codec: 'none' },
  { name: '1 KiB records', size: 1024, acks: '1', partitions: 1, codec: 'none' },
  { name: 'acks=all', size: 100, acks: 'all', partitions: 1, codec: 'none' },
  { name: '6 partitions', size: 100, acks: '1', partitions: 6, codec: 'none' },
  { name: 'lz4', size: 100, acks: '1', partitions: 1, codec: 'lz4' },
];

function recordsFor(size) {
  return size >= 1024 ? Math.max(1000, Math.round(RECORDS / 10)) : RECORDS;
}

async function measureConfig(cfg, runIndex) {
  const records = recordsFor(cfg.size);
  const brokers = cfg.acks === 'all' && (await clusterAvailable()) ? 3 : 1;
  const broker = await startKfk({ brokers });
  const out = {};
  try {
    const idle = memory(broker.proc.pid);
    for (const t of ['kcat', 'kfk']) {
      const create = ['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', t, '--partitions', String(cfg.partitions)];
      if (brokers > 1) create.push('--replication-factor', '3');
      await kfkOk(create);
    }
    const file = inputFile(cfg.size, records);
    const valueBytes = cfg.size - 1; // kcat drops the newline
    const mb = (n, bytes, s) => (n * bytes) / s / 1e6;
    const loads = async () => {
      // kcat produce (wall time of the process, start-up and metadata included)
      const kp = await run('kcat', ['-b', broker.bootstrap, '-P', '-t', 'kcat', '-z', cfg.codec, '-X', `acks=${cfg.acks === 'all' ? -1 : 1}`, '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=2000000', '-l', file]);
      if (kp.code !== 0) throw new Error(`kcat -P: ${kp.stderr}`);
      out.kcatProduce = records / (kp.ms / 1000);
      out.kcatProduceMB = mb(records, valueBytes, kp.ms / 1000);
      // kfk perf produce (its own figure: from the first send to the last acknowledgement)
      const fp = await kfkOk(['perf', 'produce', '--bootstrap-server', broker.bootstrap, '--topic', 'kfk', '--num-records', String(records), '--record-size', String(valueBytes), '--throughput', '-1', '--producer-props', `acks=${cfg.acks}`, 'linger.ms=5', 'batch.size=1048576', `compression.type=${cfg.codec}`]);
      const final = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/m.exec(fp.stdout);
      out.kfkProduce = Number(final[2]);
      out.kfkProduceMB = (Number(final[2]) * valueBytes) / 1e6;
      // kcat consume of what kcat produced (one line per record, counted). `-c N` ends kcat at the last record:
      // with `-e` alone it would also wait for one more fetch, at the log end, which the broker holds for the
      // consumer's fetch.wait.max.ms (librdkafka: 500 ms) as Kafka does, a fixed half second that is not throughput.
      // Three reads, their median: now and then librdkafka itself waits 500 ms before its first ListOffsets (it
      // re-queries the start offset 500 ms later when the partition moves from the bootstrap connection to the
      // leader's, "migrating to new broker"), which would halve one read's figure whatever the broker.
      // queued.min.messages=1000000: once a fetch response leaves more records in librdkafka's local queue than
      // this (100,000 by default), it stops fetching and looks again only at its next one-second tick, however fast
      // kcat empties the queue, whatever the broker. One response can hold that many: six partitions of 4 MiB, or a
      // 1 MiB partition of lz4 batches (~200,000 records): 1 M records then took 2.1 s and 3.1-4.6 s against
      // 0.37-0.47 s with the queue allowed to hold them.
      const reads = [];
      for (let i = 0; i < 3; i++) {
        const kc = await run('kcat', ['-b', broker.bootstrap, '-C', '-t', 'kcat', '-o', 'beginning', '-c', String(records), '-e', '-q', '-X', 'queued.min.messages=1000000', '-f', '%o\\n']);
        const got = kc.stdout.split('\n').filter(Boolean).length;
        if (got !== records) throw new Error(`kcat -C read ${got} of ${records}`);
        reads.push(records / (kc.ms / 1000));
      }
      out.kcatConsume = median(reads);
      // kfk perf consume of the same records
      const fc = await kfkOk(['perf', 'consume', '--bootstrap-server', broker.bootstrap, '--topic', 'kcat', '--messages', String(records), '--timeout', '30000', '--hide-header']);
      const cols = fc.stdout.trim().split('\n').pop().split(', ');
      if (Number(cols[4]) < records) throw new Error(`kfk perf consume read ${cols[4]} of ${records}`);
      out.kfkConsume = Number(cols[9]);
      out.kfkConsumeWithJoin = Number(cols[5]);
    };
    const { peak } = await peakRss(broker.proc.pid, loads);
    out.rssIdle = idle.rss;
    out.rssPeak = peak;
  } finally {
    await broker.stop();
    rmSync(broker.dir, { recursive: true, force: true });
  }
  console.log(`${cfg.name} run ${runIndex + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v)])))}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Peers

async function measurePeers(size) {
  const records = recordsFor(size);
  const out = {};
  if (has('redis-server') && has('redis-benchmark')) {
    const { startRedis, redisProduce, redisConsume } = await import('./lib/redis.mjs');
    const r = await startRedis(mkdtempSync(join(work, 'redis-')));
    try {
      out.redisProduce = (await redisProduce(r.port, records, size - 1)).recordsPerSec;
      const c = await redisConsume(r.port, records);
      out.redisConsume = c.records / c.seconds;
    } finally {
      await r.stop();
    }
  }
  if (has('nats-server')) {
    const { startNats, natsProduce, natsConsume } = await import('./lib/nats.mjs');
    const n = await startNats(mkdtempSync(join(work, 'nats-')));
    const natsRecords = Math.min(records, 100_000); // its client acknowledges every publish: far slower
    try {
      out.natsProduce = (await natsProduce(n.port, natsRecords, size - 1)).recordsPerSec;
      const c = await natsConsume(n.port, natsRecords);
      out.natsConsume = c.records / c.seconds;
    } finally {
      await n.stop();
    }
  }
  console.log(`peers ${size} B: ${JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v)])))}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// End-to-end latency

const pct = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(p * v.length))];
};

async function measureLatency(rate) {
  const n = rate * (rate >= 10000 ? 2 : 5); // 5 s at 1k/s, 2 s at 10k/s
  const out = {};
  const broker = await startKfk();
  try {
    await kfkOk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'e2e', '--partitions', '1']);
    const res = await kfkOk(['perf', 'e2e', '--bootstrap-server', broker.bootstrap, '--topic', 'e2e', '--num-records', String(n), '--throughput', String(rate), '--producer-acks', '1', '--warmup-records', String(rate)]);
    const m = /Latency \(ms\): avg ([\d.]+), 50th ([\d.]+), 99th ([\d.]+), 99\.9th ([\d.]+)/.exec(res.stdout);
    out.kfk = { p50: Number(m[2]), p99: Number(m[3]), p999: Number(m[4]) };
  } finally {
    await broker.stop();
    rmSync(broker.dir, { recursive: true, force: true });
  }
  const peer = async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      note(`${name} latency at ${rate}/s: ${String(err?.message ?? err).split('\n')[0]}`);
    }
  };
  if (ONLY.has('peers') && has('redis-server')) await peer('Redis', async () => {
    const { startRedis, redisLatency } = await import('./lib/redis.mjs');
    const r = await startRedis(mkdtempSync(join(work, 'redis-')));
    try {
      const l = (await redisLatency(r.port, n + rate, rate)).slice(rate); // the same second of warm-up
      if (l.length === n) out.redis = { p50: pct(l, 0.5), p99: pct(l, 0.99), p999: pct(l, 0.999) };
      else note(`Redis latency at ${rate}/s: only ${l.length} of ${n} entries arrived`);
    } finally {
      await r.stop();
    }
  });
  if (ONLY.has('peers') && has('nats-server')) await peer('NATS', async () => {
    const { startNats, natsLatency } = await import('./lib/nats.mjs');
    const s = await startNats(mkdtempSync(join(work, 'nats-')));
    try {
      const l = (await natsLatency(s.port, n + rate, rate)).slice(rate); // the same second of warm-up
      if (l.length === n) out.nats = { p50: pct(l, 0.5), p99: pct(l, 0.99), p999: pct(l, 0.999) };
      else note(`NATS latency at ${rate}/s: only ${l.length} of ${n} messages arrived`);
    } finally {
      await s.stop();
    }
  });
  console.log(`latency ${rate}/s: ${JSON.stringify(out)}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// CLI start-up

async function measureCli() {
  const broker = await startKfk();
  try {
    await kfkOk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'listed']);
    const commands = {
      'node -e 0': `${process.execPath} -e 0`,
      'kfk --version': `${process.execPath} ${KFK} --version`,
      'kfk topics --list': `${process.execPath} ${KFK} topics --list --bootstrap-server ${broker.bootstrap}`,
    };
    const out = {};
    if (has('hyperfine')) {
      const json = join(work, 'hyperfine.json');
      const res = await run('hyperfine', ['-N', '--warmup', '3', '--runs', '15', '--export-json', json, ...Object.values(commands)]);
      if (res.code !== 0) throw new Error(`hyperfine: ${res.stderr}`);
      const results = JSON.parse(readFileSync(json, 'utf8')).results;
      Object.keys(commands).forEach((name, i) => (out[name] = results[i].median * 1000));
    } else {
      note('hyperfine is not installed: CLI start-up timed with a loop of 15 runs');
      for (const [name, cmd] of Object.entries(commands)) {
        const [bin, ...args] = cmd.split(' ');
        const times = [];
        for (let i = 0; i < 18; i++) times.push((await run(bin, args)).ms);
        out[name] = median(times.slice(3));
      }
    }
    console.log(`cli: ${JSON.stringify(out)}`);
    return out;
  } finally {
    await broker.stop();
    rmSync(broker.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Report

const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const medOf = (runs, key) => median(runs.map((r) => r[key]));

function report(results) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [];
  const loadAfter = loadavg();
  lines.push(`Run ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${cpus().length} cores ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
    `load average ${loadBefore.map((x) => x.toFixed(1)).join(' / ')} before and ${loadAfter.map((x) => x.toFixed(1)).join(' / ')} after (1 / 5 / 15 min; other engineers' work shares the machine). ` +
    `Medians of ${RUNS} runs, each on a fresh broker; ${RECORDS.toLocaleString('en-US')} records of 100 B (${recordsFor(1024).toLocaleString('en-US')} of 1 KiB).`);
  lines.push('');
  lines.push('```');
  lines.push(`npm run build && node bench/suite.mjs --runs ${RUNS} --records ${RECORDS}`);
  lines.push('```');
  lines.push('');
  if (results.configs) {
    lines.push('**Throughput** (records/s; MB/s of values in brackets). kcat → kfk: wall time of `kcat -P -l file` (start-up and the last acknowledgement included); kfk → kcat: wall time of `kcat -C -c N -e -X queued.min.messages=1000000`, median of three reads per run (start-up included; `-c N` ends it at the last record instead of after one more fetch at the log end, which the broker holds for librdkafka\'s fetch.wait.max.ms of 500 ms as Kafka does; with its default queued.min.messages librdkafka pauses fetching for a second whenever one response fills its local queue); kfk: `kfk perf produce` final line, `kfk perf consume` fetch.nMsg.sec.');
    lines.push('');
    lines.push('| workload | kcat → kfk | kfk perf produce | kfk → kcat | kfk perf consume | Redis XADD | Redis XRANGE | NATS JetStream publish | NATS JetStream fetch |');
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const { cfg, runs, peers } of results.configs) {
      const p = peers ?? {};
      lines.push(
        `| ${cfg.name} | ${fmt(medOf(runs, 'kcatProduce'))} (${fmt(medOf(runs, 'kcatProduceMB'))}) | ${fmt(medOf(runs, 'kfkProduce'))} (${fmt(medOf(runs, 'kfkProduceMB'))}) | ` +
          `${fmt(medOf(runs, 'kcatConsume'))} | ${fmt(medOf(runs, 'kfkConsume'))} | ${p.redisProduce ? fmt(p.redisProduce) : '–'} | ${p.redisConsume ? fmt(p.redisConsume) : '–'} | ` +
          `${p.natsProduce ? fmt(p.natsProduce) : '–'} | ${p.natsConsume ? fmt(p.natsConsume) : '–'} |`,
      );
    }
    lines.push('');
    const base = results.configs[0];
    lines.push(`Runs of the first row: kcat → kfk ${base.runs.map((r) => fmt(r.kcatProduce)).join(', ')}; kfk perf produce ${base.runs.map((r) => fmt(r.kfkProduce)).join(', ')}; kfk → kcat ${base.runs.map((r) => fmt(r.kcatConsume)).join(', ')}; kfk perf consume ${base.runs.map((r) => fmt(r.kfkConsume)).join(', ')} (with the group join: ${base.runs.map((r) => fmt(r.kfkConsumeWithJoin)).join(', ')}).`);
    lines.push('');
    lines.push(`**Broker RSS** (first row): idle after start ${fmt(medOf(base.runs, 'rssIdle'))} MiB; largest during its produce and consume runs ${fmt(medOf(base.runs, 'rssPeak'))} MiB.`);
    lines.push('');
  }
  if (results.latency) {
    lines.push('**End-to-end latency** (ms, send to receipt, 100 B records; kfk: `kfk perf e2e --throughput R --warmup-records R`, acks=1; every system gets one second of warm-up records first, not counted):');
    lines.push('');
    lines.push('| rate | kfk p50 / p99 / p99.9 | Redis Streams p50 / p99 / p99.9 | NATS JetStream p50 / p99 / p99.9 |');
    lines.push('|---|---|---|---|');
    for (const [rate, runs] of Object.entries(results.latency)) {
      const cell = (who) => {
        const xs = runs.map((r) => r[who]).filter(Boolean);
        if (xs.length === 0) return '–';
        return `${fmt(median(xs.map((x) => x.p50)), 2)} / ${fmt(median(xs.map((x) => x.p99)), 2)} / ${fmt(median(xs.map((x) => x.p999)), 2)}`;
      };
      lines.push(`| ${Number(rate).toLocaleString('en-US')} records/s | ${cell('kfk')} | ${cell('redis')} | ${cell('nats')} |`);
    }
    lines.push('');
  }
  if (results.cli) {
    const c = results.cli;
    const base = c['node -e 0'];
    lines.push(`**CLI start-up** (hyperfine medians): \`node -e 0\` ${fmt(base)} ms; \`kfk --version\` ${fmt(c['kfk --version'])} ms (${fmt(c['kfk --version'] / base, 2)}x); \`kfk topics --list\` ${fmt(c['kfk topics --list'])} ms (${fmt(c['kfk topics --list'] / base, 2)}x).`);
    lines.push('');
  }
  lines.push(...targets(results));
  if (notes.length > 0) {
    lines.push('Notes from this run:');
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Issue 9's targets, each judged on this run's medians (the peers measured in the same run). */
function targets(results) {
  const rows = [];
  const verdict = (value, goal, higherIsBetter = true) => (!Number.isFinite(value) ? 'not measured' : (higherIsBetter ? value >= goal : value <= goal) ? 'met' : 'missed');
  const first = results.configs?.[0];
  const kib = results.configs?.find((c) => c.cfg.size === 1024);
  if (first) {
    const produce = medOf(first.runs, 'kfkProduce');
    const consume = medOf(first.runs, 'kfkConsume');
    const kcatIn = medOf(first.runs, 'kcatProduce');
    const kcatOut = medOf(first.runs, 'kcatConsume');
    const redis = first.peers?.redisProduce;
    rows.push(['`kfk perf produce` ≥ 1,000,000 records/s', fmt(produce), verdict(produce, 1e6)]);
    rows.push(['`kfk perf consume` ≥ 2,000,000 records/s', fmt(consume), verdict(consume, 2e6)]);
    rows.push(['kcat consuming ≥ kcat producing', `${fmt(kcatOut)} vs ${fmt(kcatIn)} (${fmt(kcatOut / kcatIn, 2)}x)`, verdict(kcatOut / kcatIn, 1)]);
    rows.push(['kcat → kfk ≥ 4x Redis Streams XADD', redis ? `${fmt(kcatIn)} / ${fmt(redis)} = ${fmt(kcatIn / redis, 2)}x` : 'Redis not measured', verdict(redis ? kcatIn / redis : NaN, 4)]);
  }
  if (kib) {
    const mbs = Math.min(medOf(kib.runs, 'kfkProduceMB'), medOf(kib.runs, 'kcatProduceMB'));
    rows.push(['1 KiB records ≥ 300 MB/s', `${fmt(medOf(kib.runs, 'kfkProduceMB'))} (kfk perf) / ${fmt(medOf(kib.runs, 'kcatProduceMB'))} (kcat) MB/s`, verdict(mbs, 300)]);
  }
  const e2e = results.latency?.[10000];
  if (e2e) {
    const p99 = median(e2e.map((r) => r.kfk?.p99).filter(Number.isFinite));
    rows.push(['end-to-end p99 ≤ 3 ms at 10,000 records/s', `${fmt(p99, 2)} ms (runs ${e2e.map((r) => fmt(r.kfk?.p99, 2)).join(' / ')})`, verdict(p99, 3, false)]);
  }
  if (results.cli) {
    const c = results.cli;
    const base = c['node -e 0'];
    rows.push(['`kfk --version` ≤ 1.5x `node -e 0`', `${fmt(c['kfk --version'] / base, 2)}x`, verdict(c['kfk --version'] / base, 1.5, false)]);
    rows.push(['`kfk topics --list` ≤ 2x `node -e 0`', `${fmt(c['kfk topics --list'] / base, 2)}x`, verdict(c['kfk topics --list'] / base, 2, false)]);
  }
  if (rows.length === 0) return [];
  return ['**Issue 9\'s targets in this run** (100 B records, one partition, acks=1, no compression):', '', '| target | this run | verdict |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`), ''];
}

const BEGIN = '<!-- suite:begin (written by bench/suite.mjs) -->';
const END = '<!-- suite:end -->';

function writeDoc(section) {
  const file = join(root, 'docs/benchmarks.md');
  const doc = readFileSync(file, 'utf8');
  const block = `${BEGIN}\n${section}\n${END}`;
  let next;
  if (doc.includes(BEGIN) && doc.includes(END)) next = doc.slice(0, doc.indexOf(BEGIN)) + block + doc.slice(doc.indexOf(END) + END.length);
  else next = doc.replace(/\n## /, `\n## Suite: kfk against its peers (bench/suite.mjs)\n\n${block}\n\n## `);
  writeFileSync(file, next);
  console.log(`\nwrote the suite section of ${file}`);
}

// ---------------------------------------------------------------------------------------------------

if (!has('kcat')) {
  console.error('kcat is needed (apt-get install kcat)');
  process.exit(1);
}
if (!existsSync(join(root, 'dist/commands/cli.js'))) {
  console.error('build first: npm run build');
  process.exit(1);
}
if (ONLY.has('peers')) {
  if (!has('redis-server') || !has('redis-benchmark')) note('redis-server / redis-benchmark are not installed (apt-get install redis-server): Redis skipped');
  if (!has('nats-server')) note('nats-server is not installed (apt-get install nats-server): NATS skipped');
}
const results = {};
try {
  if (ONLY.has('produce') || ONLY.has('consume')) {
    results.configs = [];
    for (const cfg of CONFIGS) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) runs.push(await measureConfig(cfg, i));
      let peers;
      if (ONLY.has('peers') && cfg.acks === '1' && cfg.partitions === 1 && cfg.codec === 'none') {
        const peerRuns = [];
        for (let i = 0; i < RUNS; i++) {
          try {
            peerRuns.push(await measurePeers(cfg.size));
          } catch (err) {
            note(`peers at ${cfg.size} B, run ${i + 1}: ${String(err?.message ?? err).split('\n')[0]}`);
          }
        }
        peers = Object.fromEntries(Object.keys(peerRuns[0] ?? {}).map((k) => [k, median(peerRuns.map((r) => r[k]))]));
      }
      results.configs.push({ cfg, runs, peers });
    }
  }
  if (ONLY.has('e2e')) {
    results.latency = {};
    for (const rate of [1000, 10000]) {
      results.latency[rate] = [];
      for (let i = 0; i < RUNS; i++) results.latency[rate].push(await measureLatency(rate));
    }
  }
  if (ONLY.has('cli')) results.cli = await measureCli();
} finally {
  rmSync(work, { recursive: true, force: true });
}
const section = report(results);
console.log(`\n${section}`);
if (WRITE) writeDoc(section);
