#!/usr/bin/env node
/**
 * How a broker grows with its partition count (issue 13): one broker process (`node bin/kfk.js server start`,
 * the compiled code in dist/, so `npm run build` first), started under a file-descriptor limit as
 * `bash -c 'ulimit -n <limit>; exec node bin/kfk.js server start ...'`, then:
 *
 * - create: N partitions as T topics of N/T partitions, one CreateTopics request per topic (our Admin client),
 *   the wall time of all of them, and of the slowest single request;
 * - fds: descriptors the broker holds (/proc/<pid>/fd) after creating and after the restarts;
 * - RSS: after creating, and after the idle period;
 * - idle CPU: user+system CPU seconds the idle broker used over --idle-s after --warmup-s (/proc/<pid>/stat), as a
 *   percentage of one core;
 * - Metadata latency: median of 20 Metadata requests for one topic, and of 5 for every topic;
 * - clean restart (SIGTERM, start again): time to the `started (` line and to "serving" (a ListOffsets of
 *   every partition answered without error), and the same after kill -9.
 *
 *   node bench/partitions.mjs [--partitions 10000] [--topics 10] [--limit 1024] [--runs 1] [--idle-s 10] [--warmup-s 10]
 *                             [--override k=v ...] [--skip-restart]
 *
 * Prints each run's figures as one JSON line, then the medians over the runs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Admin } = await import(path.join(root, 'dist/src/client/admin.js'));
const { ClusterClient } = await import(path.join(root, 'dist/src/client/cluster-client.js'));

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const overrides = [];
for (let i = 0; i < args.length; i++) if (args[i] === '--override') overrides.push(args[i + 1]);
const totalPartitions = Number(arg('partitions', 10000));
const topicCount = Number(arg('topics', 10));
const limit = Number(arg('limit', 1024));
const runs = Number(arg('runs', 1));
const idleSeconds = Number(arg('idle-s', 10));
const warmupSeconds = Number(arg('warmup-s', 10));
const skipRestart = args.includes('--skip-restart');
const perTopic = Math.ceil(totalPartitions / topicCount);

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function startBroker(port, dataDir) {
  const kfkArgs = [
    path.join(root, 'bin/kfk.js'),
    'server',
    'start',
    '--override',
    `listeners=PLAINTEXT://127.0.0.1:${port}`,
    '--override',
    `log.dirs=${dataDir}`,
    ...overrides.flatMap((o) => ['--override', o]),
  ];
  const cmd = `ulimit -n ${limit} && exec "${process.execPath}" ${kfkArgs.map((a) => `'${a}'`).join(' ')}`;
  const t0 = now();
  const proc = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dataDir } });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const started = new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (/^started \(/m.test(out)) {
        clearInterval(check);
        resolve(now() - t0);
      }
    }, 5);
    exited.then(({ code, signal }) => {
      clearInterval(check);
      reject(new Error(`broker exited (${code ?? signal}) before starting:\n${out.slice(-3000)}\n${err.slice(-3000)}`));
    });
  });
  return { proc, pid: proc.pid, t0, started, exited, output: () => out + err };
}

function fdCount(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}
function rssMiB(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : null;
}
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return ticks / 100; // USER_HZ is 100 on Linux
}

async function stopBroker(b, signal = 'SIGTERM') {
  b.proc.kill(signal);
  const r = await b.exited;
  return r;
}

/** Time until a ListOffsets(latest) of every partition of every topic answers without error. */
async function timeToServing(bootstrap, topics, t0) {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const cluster = new ClusterClient({ bootstrap, clientId: 'bench-partitions', requestTimeoutMs: 60_000 });
    const admin = new Admin({ cluster });
    try {
      for (const t of topics) {
        const offsets = await admin.listOffsets(t, 'latest');
        if (offsets.length !== perTopic || offsets.some((o) => o.offset < 0)) throw new Error(`${t}: not every partition served`);
      }
      return now() - t0;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(50);
    } finally {
      await cluster.close().catch(() => {});
    }
  }
}

async function metadataLatency(bootstrap, topics) {
  const cluster = new ClusterClient({ bootstrap, clientId: 'bench-partitions-md', requestTimeoutMs: 120_000 });
  try {
    await cluster.refreshMetadata([topics[0]]);
    const one = [];
    for (let i = 0; i < 20; i++) {
      const t0 = now();
      await cluster.refreshMetadata([topics[i % topics.length]]);
      one.push(now() - t0);
    }
    const all = [];
    for (let i = 0; i < 5; i++) {
      const t0 = now();
      await cluster.refreshMetadata(null);
      all.push(now() - t0);
    }
    return { oneTopicMs: median(one), allTopicsMs: median(all) };
  } finally {
    await cluster.close();
  }
}

async function oneRun(run) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfk-bench-partitions-'));
  const port = await freePort();
  const bootstrap = `127.0.0.1:${port}`;
  const r = { run, partitions: totalPartitions, topics: topicCount, limit };
  let b = startBroker(port, dataDir);
  try {
    await b.started;
    r.fdsEmpty = fdCount(b.pid);
    r.rssEmptyMiB = rssMiB(b.pid);
    const admin = new Admin({ bootstrap, clientId: 'bench-partitions', operationTimeoutMs: 120_000 });
    const topics = Array.from({ length: topicCount }, (_, i) => `scale-${i}`);
    const t0 = now();
    let slowest = 0;
    try {
      for (const t of topics) {
        const t1 = now();
        await admin.createTopics([{ name: t, numPartitions: perTopic, replicationFactor: 1 }]);
        slowest = Math.max(slowest, now() - t1);
      }
    } catch (e) {
      r.createError = `${e.message}`;
    } finally {
      await admin.close();
    }
    r.createS = (now() - t0) / 1000;
    r.slowestCreateTopicsS = slowest / 1000;
    if (r.createError !== undefined) {
      r.fdsAfterCreate = fdCount(b.pid);
      r.brokerOutputTail = b.output().split('\n').filter((l) => /ERROR|WARN|EMFILE/.test(l)).slice(-5);
      return r;
    }
    r.firstServingS = (await timeToServing(bootstrap, topics, now())) / 1000;
    r.fdsAfterCreate = fdCount(b.pid);
    r.rssAfterCreateMiB = rssMiB(b.pid);
    Object.assign(r, await metadataLatency(bootstrap, topics));
    // idle: CPU over idleSeconds (after warmupSeconds, so that the work following the creation is done), then RSS
    await sleep(warmupSeconds * 1000);
    const cpu0 = cpuSeconds(b.pid);
    await sleep(idleSeconds * 1000);
    r.idleCpuPercent = ((cpuSeconds(b.pid) - cpu0) / idleSeconds) * 100;
    r.rssIdleMiB = rssMiB(b.pid);
    r.bytesPerPartitionIdle = Math.round(((r.rssIdleMiB - r.rssEmptyMiB) * 1048576) / totalPartitions);
    if (skipRestart) return r;

    const stopT0 = now();
    r.stopExit = (await stopBroker(b)).code;
    r.cleanStopS = (now() - stopT0) / 1000;
    b = startBroker(port, dataDir);
    r.cleanRestartStartedS = (await b.started) / 1000;
    r.cleanRestartServingS = (await timeToServing(bootstrap, topics, b.t0)) / 1000;
    r.fdsAfterCleanRestart = fdCount(b.pid);
    r.rssAfterCleanRestartMiB = rssMiB(b.pid);

    await stopBroker(b, 'SIGKILL');
    b = startBroker(port, dataDir);
    r.kill9RestartStartedS = (await b.started) / 1000;
    r.kill9RestartServingS = (await timeToServing(bootstrap, topics, b.t0)) / 1000;
    r.fdsAfterKill9Restart = fdCount(b.pid);
    return r;
  } catch (e) {
    r.error = e.message;
    r.brokerOutputTail = b.output().split('\n').slice(-8);
    return r;
  } finally {
    if (b.proc.exitCode === null && b.proc.signalCode === null) await stopBroker(b, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(
  `partitions bench: ${totalPartitions} partitions as ${topicCount} topics of ${perTopic}, ulimit -n ${limit}, ${runs} run(s), ` +
    `node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
);
const results = [];
for (let run = 1; run <= runs; run++) {
  const r = await oneRun(run);
  console.log(JSON.stringify(r));
  results.push(r);
}
if (runs > 1) {
  const med = {};
  for (const k of Object.keys(results[0])) {
    if (typeof results[0][k] === 'number') med[k] = median(results.map((r) => r[k]));
  }
  console.log(`medians: ${JSON.stringify(med)}`);
}
