#!/usr/bin/env node
/**
 * Produce throughput with replication factor 3, acks=1 against acks=all, measured with kcat (librdkafka).
 * Three brokers run in this process (the compiled code in dist/, sharing one embedded registry, each with its
 * own listener and log dir: the same replication code as separate processes); kcat runs as a child process.
 * Each run produces N records of S bytes with `kcat -P -l` into a new RF=3 topic, once with acks=1 and once
 * with acks=all (alternating which goes first), then checks every replica reached the same log end offset.
 * The event loop's delay is sampled throughout (the brokers share it): its p99 and max are printed.
 *
 *   npm run build && node bench/replication-throughput.mjs [--records 300000] [--size 100] [--runs 3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { brokerConfigFromProperties } = await import(join(root, 'dist/src/config/broker-config.js'));
const { launchBroker } = await import(join(root, 'dist/src/broker/launch.js'));
const { EmbeddedRegistryStore } = await import(join(root, 'dist/src/registry/embedded.js'));
const { silentLogger } = await import(join(root, 'dist/src/server/logger.js'));

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const records = Number(arg('records', 300000));
const size = Number(arg('size', 100));
const runs = Number(arg('runs', 3));

const run = (cmd, args) =>
  new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 && !/failed|ERROR/.test(err) ? res() : rej(new Error(`${cmd} ${args.join(' ')}: ${code} ${err}`))));
  });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dataDir = mkdtempSync(join(tmpdir(), 'kfk-bench-repl-'));
const file = join(dataDir, 'input.txt');
writeFileSync(file, ('x'.repeat(size - 1) + '\n').repeat(records));

const store = EmbeddedRegistryStore.inMemory();
const brokers = [];
for (let id = 0; id < 3; id++) {
  const config = brokerConfigFromProperties({ 'broker.id': String(id), listeners: 'PLAINTEXT://127.0.0.1:0', 'log.dirs': join(dataDir, `broker-${id}`) });
  brokers.push(await launchBroker(config, { logger: silentLogger, registry: store.connect() }));
}
const bootstrap = brokers.map((b) => b.bootstrap).join(',');
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

async function produce(topic, acks) {
  await run(process.execPath, [join(root, 'bin/kfk.js'), 'topics', '--create', '--topic', topic, '--partitions', '1', '--replication-factor', '3', '--bootstrap-server', bootstrap]);
  const t0 = process.hrtime.bigint();
  await run('kcat', ['-b', bootstrap, '-P', '-t', topic, '-X', `acks=${acks}`, '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=2000000', '-l', file]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const ends = () => brokers.map((b) => b.broker.replicaManager.getPartition(topic, 0)?.log.logEndOffset);
  for (let i = 0; i < 600 && !ends().every((e) => e === records); i++) await new Promise((r) => setTimeout(r, 100));
  if (!ends().every((e) => e === records)) throw new Error(`${topic}: replicas at ${ends().join(',')}, expected ${records}`);
  return s;
}

const results = { 1: [], all: [] };
try {
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ['1', 'all'] : ['all', '1'];
    const line = [];
    for (const acks of order) {
      const s = await produce(`bench-acks${acks}-${r}`, acks);
      results[acks].push(s);
      line.push(`acks=${acks} ${(records / s).toFixed(0)} rec/s (${s.toFixed(2)} s)`);
    }
    console.log(`run ${r + 1}: ${line.join(', ')}`);
  }
} finally {
  delay.disable();
  for (const b of brokers) await b.stop();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}
const mb = (records * size) / 1e6;
const m1 = median(results[1]);
const mall = median(results.all);
console.log(`\n${records} records x ${size} B, RF=3, 1 partition, ${runs} runs, ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
console.log(`median acks=1:   ${(records / m1).toFixed(0)} records/s, ${(mb / m1).toFixed(1)} MB/s`);
console.log(`median acks=all: ${(records / mall).toFixed(0)} records/s, ${(mb / mall).toFixed(1)} MB/s (${((m1 / mall) * 100).toFixed(0)}% of acks=1)`);
console.log(`event loop delay over all runs: p50 ${(delay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`);
