#!/usr/bin/env node
/**
 * Three broker processes on ZooKeeper (as users run them: `kfk server start`, one process each), measured with kcat
 * and a probe client:
 *
 *  1. Throughput: kcat -P -l loads N records of S bytes into a new RF=3 topic of 3 partitions (one preferred leader
 *     per broker), once with acks=1 and once with acks=all (alternating which goes first), per run; every replica must
 *     reach the same log end. Meanwhile a probe sends one Metadata request every 20 ms to each broker in turn: its
 *     round-trip time is how long a concurrent client waits while the brokers replicate (event-loop stalls show up
 *     there). The same probe runs for a few seconds with no load first, for comparison.
 *     Then the same probe under a steady load (confluent-kafka, acks=all, --rate records/s for 10 s) into an RF=3
 *     topic and into an RF=1 topic: the difference is what replication costs a concurrent client.
 *  2. Failover: a topic of P partitions, RF=3, min.insync.replicas=2; per run, kill -9 the broker (not the
 *     controller) that leads the most of them, and measure from the kill until (a) ZooKeeper drops its registration
 *     and (b) every partition it led takes an acks=all write on its new leader (the probe retries every 25 ms from
 *     the moment Metadata names a new leader). Then it restarts the broker and moves the leaderships back (a preferred
 *     election) for the next run.
 *
 *   npm run build && node bench/zookeeper-cluster.mjs [--records 300000] [--size 100] [--runs 5]
 *                                                     [--partitions 30] [--failovers 5] [--session-timeout-ms 6000]
 *                                                     [--rate 5000] [--logs DIR]
 *
 * Needs java with ZooKeeper and kcat. Prints each run and the medians.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startZooKeeper } from '../dist/src/registry/zookeeper-server.js';
import { ZooKeeperRegistry } from '../dist/src/registry/zookeeper.js';
import { brokerIdPath, controllerPath, decodeController, decodePartitionState, partitionStatePath } from '../dist/src/registry/paths.js';
import { BrokerConnection } from '../dist/src/client/connection.js';
import { ApiKey } from '../dist/src/protocol/generated/apis.js';
import { buildRecordBatch } from '../dist/src/protocol/records.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KFK = path.join(REPO, 'bin', 'kfk.js');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const records = arg('records', 300_000);
const size = arg('size', 100);
const runs = arg('runs', 5);
const failoverPartitions = arg('partitions', 30);
const failovers = arg('failovers', 5);
const sessionMs = arg('session-timeout-ms', 6000);
const steadyRate = arg('rate', 5000);
const logsIndex = process.argv.indexOf('--logs');
/** --logs DIR: keep each broker's log there (broker-<id>.log). */
const logsDir = logsIndex >= 0 ? process.argv[logsIndex + 1] : null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 && !/failed|ERROR/.test(err) ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${code} ${err}`))));
  });
}

async function until(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfk-bench-zk-'));
const zk = await startZooKeeper({ dataDir: path.join(dir, 'zookeeper'), port: await freePort(), host: '127.0.0.1' });
const registry = await ZooKeeperRegistry.connect(zk.connectString, { sessionTimeoutMs: 30_000 });
const ports = [await freePort(), await freePort(), await freePort()];
const procs = [];
const bootstrap = ports.map((p) => `127.0.0.1:${p}`).join(',');

async function startBroker(id) {
  const args = [KFK, 'server', 'start'];
  const overrides = {
    'broker.id': id,
    listeners: `PLAINTEXT://127.0.0.1:${ports[id]}`,
    'log.dirs': path.join(dir, `broker-${id}`),
    'zookeeper.connect': zk.connectString,
    'zookeeper.session.timeout.ms': sessionMs,
    'auto.leader.rebalance.enable': 'false',
  };
  for (const [k, v] of Object.entries(overrides)) args.push('--override', `${k}=${v}`);
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', logsDir ? fs.openSync(path.join(logsDir, `broker-${id}.log`), 'a') : 'ignore'] });
  procs[id] = p;
  await new Promise((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('started (')) resolve();
    });
    p.on('exit', (code) => reject(new Error(`broker ${id} exited ${code}`)));
  });
}

async function stateOf(topic, p) {
  const node = await registry.get(partitionStatePath(topic, p));
  return node ? decodePartitionState(node.data) : null;
}

async function createTopic(topic, partitions, config = []) {
  await run(process.execPath, [KFK, 'topics', '--create', '--bootstrap-server', bootstrap, '--topic', topic, '--partitions', String(partitions), '--replication-factor', '3', ...config.flatMap((c) => ['--config', c])]);
  await until(async () => {
    for (let p = 0; p < partitions; p++) if ((await stateOf(topic, p))?.isr.length !== 3) return false;
    return true;
  }, 30_000, `${topic} in sync`);
}

const connections = new Map();
async function connectionTo(id) {
  let c = connections.get(id);
  if (!c || c.closed) {
    c = await BrokerConnection.connect({ host: '127.0.0.1', port: ports[id] });
    connections.set(id, c);
  }
  return c;
}
function dropConnection(id) {
  connections.get(id)?.close();
  connections.delete(id);
}

// ---- 1. throughput and a concurrent client's latency -------------------------------------------

/** Metadata round trips, one every 20 ms, to each broker in turn, until stop() — in ms. */
function latencyProbe() {
  const rtts = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const id = i % 3;
      const t0 = process.hrtime.bigint();
      try {
        await (await connectionTo(id)).request(ApiKey.Metadata, { topics: [], allowAutoTopicCreation: false }, { version: 9, timeoutMs: 10_000 });
        rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch {
        dropConnection(id);
      }
      await sleep(20);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return rtts;
    },
  };
}

async function throughput(file) {
  const results = { 1: [], all: [] };
  const latency = { idle: [], 1: [], all: [] };
  let probe = latencyProbe();
  await sleep(5000);
  latency.idle.push(...(await probe.stop()));
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ['1', 'all'] : ['all', '1'];
    const line = [];
    for (const acks of order) {
      const topic = `bench-acks${acks}-${r}`;
      await createTopic(topic, 3);
      probe = latencyProbe();
      const t0 = process.hrtime.bigint();
      await run('kcat', ['-b', bootstrap, '-P', '-t', topic, '-X', `acks=${acks}`, '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=2000000', '-l', file]);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      latency[acks].push(...(await probe.stop()));
      results[acks].push(s);
      line.push(`acks=${acks} ${(records / s).toFixed(0)} rec/s (${s.toFixed(2)} s)`);
      // Every replica reaches the same log end (the followers may finish after an acks=1 load).
      const sizes = (p) => [0, 1, 2].map((id) => fs.readdirSync(path.join(dir, `broker-${id}`, `${topic}-${p}`)).filter((f) => f.endsWith('.log')).reduce((n, f) => n + fs.statSync(path.join(dir, `broker-${id}`, `${topic}-${p}`, f)).size, 0));
      await until(() => [0, 1, 2].every((p) => new Set(sizes(p)).size === 1), 60_000, `${topic}: identical replica sizes`);
    }
    console.log(`run ${r + 1}: ${line.join(', ')}`);
  }
  const mb = (records * size) / 1e6;
  const m1 = median(results[1]);
  const mall = median(results.all);
  console.log(`\n${records} records x ${size} B, RF=3, 3 partitions, ${runs} runs, 3 broker processes on ZooKeeper, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.versions.node}`);
  console.log(`median acks=1:   ${(records / m1).toFixed(0)} records/s, ${(mb / m1).toFixed(1)} MB/s`);
  console.log(`median acks=all: ${(records / mall).toFixed(0)} records/s, ${(mb / mall).toFixed(1)} MB/s (${((m1 / mall) * 100).toFixed(0)}% of acks=1)`);
  for (const k of ['idle', '1', 'all']) {
    const xs = latency[k];
    console.log(`Metadata round trip ${k === 'idle' ? 'with no load       ' : `during acks=${k} loads`.padEnd(19)}: p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} requests)`);
  }
}

/** The probe while scripts/chaos/producer.py writes `steadyRate` records/s with acks=all for 10 s. */
async function steadyLoad(topic, replicationFactor) {
  await run(process.execPath, [KFK, 'topics', '--create', '--bootstrap-server', bootstrap, '--topic', topic, '--partitions', '3', '--replication-factor', String(replicationFactor)]);
  const reports = path.join(dir, `${topic}.txt`);
  const producer = spawn('/usr/bin/python3', [path.join(REPO, 'scripts/chaos/producer.py'), JSON.stringify({ bootstrap, topic, keys: 30, rate: steadyRate, out: reports })], { stdio: ['pipe', 'pipe', 'ignore'] });
  await sleep(2000); // the producer gets going
  const probe = latencyProbe();
  await sleep(10_000);
  const rtts = await probe.stop();
  producer.stdin.write('stop\n');
  const summary = await new Promise((resolve) => {
    let out = '';
    producer.stdout.on('data', (d) => (out += d));
    producer.on('exit', () => resolve(JSON.parse(out.trim().split('\n').pop() || '{}')));
  });
  console.log(
    `Metadata round trip during ${steadyRate} records/s (acks=all) to RF=${replicationFactor}: p50 ${pct(rtts, 50).toFixed(1)} ms, p99 ${pct(rtts, 99).toFixed(1)} ms, max ${Math.max(...rtts).toFixed(1)} ms (${rtts.length} requests; ${summary.acked} records acknowledged)`,
  );
}

// ---- 2. failover ---------------------------------------------------------------------------------

async function controllerId() {
  const node = await registry.get(controllerPath);
  return node ? decodeController(node.data).brokerId : -1;
}

async function leaders(topic, partitions) {
  const out = [];
  for (let p = 0; p < partitions; p++) out.push((await stateOf(topic, p))?.leader ?? -1);
  return out;
}

/** Writes one record with acks=all to partition p on broker `id`; resolves with the error code. */
async function produceOne(id, topic, p) {
  const conn = await connectionTo(id);
  const r = await conn.request(
    ApiKey.Produce,
    { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: p, records: buildRecordBatch([{ key: null, value: Buffer.from('probe'), timestamp: Date.now() }]) }] }] },
    { version: 9, timeoutMs: 10_000 },
  );
  return r.responses[0].partitionResponses[0].errorCode;
}

async function failover() {
  const topic = 'failover';
  await createTopic(topic, failoverPartitions, ['min.insync.replicas=2']);
  const results = [];
  for (let r = 0; r < failovers; r++) {
    const ctl = await controllerId();
    const before = await leaders(topic, failoverPartitions);
    const counts = [0, 1, 2].map((id) => (id === ctl ? -1 : before.filter((l) => l === id).length));
    const victim = counts.indexOf(Math.max(...counts));
    const led = before.flatMap((l, p) => (l === victim ? [p] : []));
    const served = new Map();
    const observer = [0, 1, 2].find((id) => id !== victim);

    procs[victim].kill('SIGKILL');
    await new Promise((res) => procs[victim].once('exit', res));
    const t0 = performance.now();
    console.log(`  killed broker ${victim} at ${new Date().toISOString()}`);
    dropConnection(victim);
    let expiredAt = null;
    const expiry = until(async () => (await registry.exists(brokerIdPath(victim))) === null, sessionMs * 5, 'the registration to go').then(() => (expiredAt = performance.now() - t0));
    // Each of its partitions: Metadata (from a live broker) until a new leader is named, then acks=all writes there.
    await until(
      async () => {
        const md = await (await connectionTo(observer)).request(ApiKey.Metadata, { topics: [{ name: topic }], allowAutoTopicCreation: false }, { version: 9, timeoutMs: 5000 });
        const partitionsMd = md.topics[0].partitions;
        await Promise.all(
          led
            .filter((p) => !served.has(p))
            .map(async (p) => {
              const leader = partitionsMd.find((x) => x.partitionIndex === p)?.leaderId ?? -1;
              if (leader < 0 || leader === victim) return;
              const ts = performance.now() - t0;
              try {
                const code = await produceOne(leader, topic, p);
                if (process.env.TRACE) console.log(`    p${p} leader ${leader} at ${ts.toFixed(0)} -> ${code} at ${(performance.now() - t0).toFixed(0)}`);
                if (code === 0) served.set(p, performance.now() - t0);
              } catch (err) {
                if (process.env.TRACE) console.log(`    p${p} leader ${leader} at ${ts.toFixed(0)} -> ${err.message} at ${(performance.now() - t0).toFixed(0)}`);
                dropConnection(leader);
              }
            }),
        );
        return served.size === led.length;
      },
      sessionMs * 10,
      'every partition served by a new leader',
    );
    await expiry;
    const times = [...served.values()];
    results.push({ expired: expiredAt, first: Math.min(...times), all: Math.max(...times) });
    console.log(
      `failover ${r + 1}: broker ${victim} led ${led.length} partitions; registration gone after ${expiredAt.toFixed(0)} ms; ` +
        `first partition served after ${Math.min(...times).toFixed(0)} ms, all after ${Math.max(...times).toFixed(0)} ms`,
    );
    // Back to the start: the broker returns, catches up, and the preferred leaders lead again.
    await startBroker(victim);
    await until(async () => {
      for (let p = 0; p < failoverPartitions; p++) if ((await stateOf(topic, p))?.isr.length !== 3) return false;
      return true;
    }, 60_000, 'every replica back in sync');
    await run(process.execPath, [KFK, 'leader-election', '--bootstrap-server', bootstrap, '--election-type', 'preferred', '--all-topic-partitions']).catch(() => undefined);
    await until(async () => (await leaders(topic, failoverPartitions)).filter((l) => l === victim).length > 0, 30_000, 'leaderships back');
  }
  console.log(
    `\nkill -9 of a leader (${failoverPartitions} partitions, zookeeper.session.timeout.ms=${sessionMs}, ${failovers} runs): ` +
      `registration gone after ${median(results.map((x) => x.expired)).toFixed(0)} ms (median), ` +
      `every partition served by a new leader after ${median(results.map((x) => x.all)).toFixed(0)} ms (median; first ${median(results.map((x) => x.first)).toFixed(0)} ms)`,
  );
}

try {
  for (let id = 0; id < 3; id++) await startBroker(id);
  if (records > 0 && runs > 0) {
    const file = path.join(dir, 'input.txt');
    fs.writeFileSync(file, ('x'.repeat(size - 1) + '\n').repeat(records));
    await throughput(file);
  }
  if (steadyRate > 0) {
    await steadyLoad('steady-rf3', 3);
    await steadyLoad('steady-rf1', 1);
  }
  if (failovers > 0) await failover();
} finally {
  for (const c of connections.values()) c.close();
  for (const p of procs) p?.kill('SIGTERM');
  await Promise.all(procs.map((p) => p && p.exitCode === null && new Promise((r) => p.once('exit', r))));
  await registry.close();
  await zk.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
