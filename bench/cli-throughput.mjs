#!/usr/bin/env node
/**
 * kfk's own CLI as a client: `kfk console-producer` loads N lines of S bytes from standard input (batching with
 * several requests in flight), then `kfk console-consumer --from-beginning --max-messages N` reads them back. The
 * broker runs as a separate process (node bin/kfk.js server start) on a free loopback port. Uses the compiled code
 * in dist/ (`npm run build`).
 *
 *   node bench/cli-throughput.mjs [--records 100000] [--size 10] [--runs 3] [--partitions 3]
 *
 * Prints each run and the median records/s for produce and consume. (test/integration/cli.test.ts checks that such a
 * load is batched; how fast it goes is this machine's figure, recorded in docs/benchmarks.md.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const kfkBin = join(root, 'bin/kfk.js');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const records = Number(arg('records', 100000));
const size = Number(arg('size', 10));
const runs = Number(arg('runs', 3));
const partitions = Number(arg('partitions', 3));

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

/** Runs `node bin/kfk.js ...args` with `input` on stdin; resolves with its stdout once it exits 0. */
function kfk(args, input = '') {
  return new Promise((res, rej) => {
    const proc = spawn(process.execPath, [kfkBin, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = [];
    proc.stdout.on('data', (d) => out.push(d));
    proc.on('exit', (code) => (code === 0 ? res(Buffer.concat(out).toString()) : rej(new Error(`kfk ${args[0]} exited ${code}`))));
    proc.stdin.end(input);
  });
}

async function startBroker(dir, port) {
  const proc = spawn(process.execPath, [kfkBin, 'server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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

const dataDir = mkdtempSync(join(tmpdir(), 'kfk-bench-cli-'));
const input = Array.from({ length: records }, (_, i) => String(i).padStart(size - 1, 'x')).join('\n') + '\n';
const results = [];
try {
  for (let run = 0; run < runs; run++) {
    const port = await freePort();
    const broker = await startBroker(join(dataDir, `logs-${run}`), port);
    const bootstrap = `127.0.0.1:${port}`;
    const topic = `bench-${run}`;
    try {
      await kfk(['topics', '--bootstrap-server', bootstrap, '--create', '--topic', topic, '--partitions', String(partitions)]);
      let t0 = process.hrtime.bigint();
      await kfk(['console-producer', '--bootstrap-server', bootstrap, '--topic', topic], input);
      const produceS = Number(process.hrtime.bigint() - t0) / 1e9;
      t0 = process.hrtime.bigint();
      const out = await kfk(['console-consumer', '--bootstrap-server', bootstrap, '--topic', topic, '--from-beginning', '--max-messages', String(records)]);
      const consumeS = Number(process.hrtime.bigint() - t0) / 1e9;
      const got = out.split('\n').filter(Boolean).length;
      if (got !== records) throw new Error(`consumed ${got} of ${records}`);
      results.push({ produceS, consumeS });
      console.log(
        `run ${run + 1}: produce ${(records / produceS).toFixed(0)} rec/s (${produceS.toFixed(2)} s), consume ${(records / consumeS).toFixed(0)} rec/s (${consumeS.toFixed(2)} s)`,
      );
    } finally {
      broker.kill('SIGTERM');
      await new Promise((r) => broker.on('exit', r));
    }
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
const mp = median(results.map((r) => r.produceS));
const mc = median(results.map((r) => r.consumeS));
console.log(`\n${records} lines x ${size} B, ${partitions} partition(s), ${runs} runs, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`);
console.log(`median produce: ${(records / mp).toFixed(0)} records/s (${mp.toFixed(2)} s, process start included)`);
console.log(`median consume: ${(records / mc).toFixed(0)} records/s (${mc.toFixed(2)} s, process start included)`);
