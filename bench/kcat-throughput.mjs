#!/usr/bin/env node
/**
 * Broker throughput measured with a fast third-party client (kcat / librdkafka):
 * produce N records of S bytes from a file with `kcat -P -l`, then consume them all with `kcat -C -e`.
 * The broker runs as a separate process (node bin/kfk.js server start) on a free loopback port.
 *
 *   node bench/kcat-throughput.mjs [--records 1000000] [--size 100] [--runs 3] [--partitions 1] [--codec none] [--root <checkout>]
 *
 * --root runs another checkout's broker (built), to compare two builds in one session.
 *
 * Prints each run and the median records/s and MB/s for produce and consume, and the CPU time the broker used
 * in each phase (user + system, from /proc: far less disturbed by other load on the machine than wall time).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const records = Number(arg('records', 1000000));
const size = Number(arg('size', 100));
const runs = Number(arg('runs', 3));
const partitions = Number(arg('partitions', 1));
const codec = arg('codec', 'none');
const brokerRoot = resolve(arg('root', root));

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

async function startBroker(dir, port) {
  const proc = spawn(process.execPath, [join(brokerRoot, 'bin/kfk.js'), 'server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}`, '--override', `num.partitions=${partitions}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((res, rej) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('started (')) res();
    });
    proc.on('exit', (c) => rej(new Error(`broker exited ${c}`)));
  });
  return proc;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** CPU seconds (user + system) a process has used so far, from /proc (Linux; NaN elsewhere). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return NaN;
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'kfk-bench-'));
const file = join(dataDir, 'input.txt');
const line = 'x'.repeat(size - 1) + '\n';
writeFileSync(file, line.repeat(records));
const results = [];
for (let run = 0; run < runs; run++) {
  const port = await freePort();
  const logDir = join(dataDir, `logs-${run}`);
  const broker = await startBroker(logDir, port);
  const topic = `bench-${run}`;
  try {
    const cpu0 = cpuSeconds(broker.pid);
    let t0 = process.hrtime.bigint();
    const p = spawnSync('kcat', ['-b', `127.0.0.1:${port}`, '-P', '-t', topic, '-z', codec, '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=2000000', '-l', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    const produceS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (p.status !== 0) throw new Error(`kcat -P failed (${p.status})`);
    const cpu1 = cpuSeconds(broker.pid);
    t0 = process.hrtime.bigint();
    // -c ends kcat at the last record (with -e alone it waits for one more fetch at the log end, held by the
    // broker for librdkafka's fetch.wait.max.ms, 500 ms, as Kafka does: not throughput); queued.min.messages as in
    // bench/suite.mjs (librdkafka pauses fetching for a second when one response fills its local queue)
    const c = spawnSync('kcat', ['-b', `127.0.0.1:${port}`, '-C', '-t', topic, '-o', 'beginning', '-c', String(records), '-e', '-q', '-X', 'queued.min.messages=1000000', '-f', '%o\n'], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 });
    const consumeS = Number(process.hrtime.bigint() - t0) / 1e9;
    const got = c.stdout.toString().split('\n').filter(Boolean).length;
    if (got !== records) throw new Error(`consumed ${got} of ${records}`);
    const cpu2 = cpuSeconds(broker.pid);
    results.push({ produceS, consumeS, produceCpu: cpu1 - cpu0, consumeCpu: cpu2 - cpu1 });
    console.log(
      `run ${run + 1}: produce ${(records / produceS).toFixed(0)} rec/s (${produceS.toFixed(2)} s, broker CPU ${(cpu1 - cpu0).toFixed(2)} s), ` +
        `consume ${(records / consumeS).toFixed(0)} rec/s (${consumeS.toFixed(2)} s, broker CPU ${(cpu2 - cpu1).toFixed(2)} s)`,
    );
  } finally {
    broker.kill('SIGTERM');
    await new Promise((r) => broker.on('exit', r));
  }
}
rmSync(dataDir, { recursive: true, force: true });
const mp = median(results.map((r) => r.produceS));
const mc = median(results.map((r) => r.consumeS));
const mb = (records * size) / 1e6;
console.log(`\n${records} records x ${size} B, ${partitions} partition(s), codec ${codec}, ${runs} runs, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
console.log(`median produce: ${(records / mp).toFixed(0)} records/s, ${(mb / mp).toFixed(1)} MB/s`);
console.log(`median consume: ${(records / mc).toFixed(0)} records/s, ${(mb / mc).toFixed(1)} MB/s`);
console.log(`median broker CPU (user + system): produce ${median(results.map((r) => r.produceCpu)).toFixed(2)} s, consume ${median(results.map((r) => r.consumeCpu)).toFixed(2)} s`);
