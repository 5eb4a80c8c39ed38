#!/usr/bin/env node
/**
 * A Jepsen-style fault-injection checker for a kfk cluster.
 *
 * It runs ZooKeeper and three broker processes (`kfk server start`, as users run them), a topic replicated three
 * times with min.insync.replicas=2, an idempotent acks=all producer (confluent-kafka) and a consumer group of two
 * members (confluent-kafka, committing after every batch). For --duration seconds it injects faults, one broker at a
 * time, chosen at random (seeded): kill -9 and restart, SIGSTOP for a while (sometimes past the ZooKeeper session
 * timeout: a zombie) then SIGCONT, or a clean restart (SIGTERM, a controlled shutdown). After each fault it waits for
 * the cluster to be whole again (every partition with three in-sync replicas) before the next, up to --settle-ms;
 * `--settle-ms 0` starts the next fault while a returning broker may still be catching up (two brokers out of an
 * ISR at once: acks=all is then refused for a while, and partitions can go offline until a broker returns —
 * availability, not safety, suffers).
 *
 * Then it lets the cluster settle, stops the producer (which waits for every delivery report), reads the whole topic
 * back, lets the group catch up, compares every replica's segment files byte for byte, and checks the history
 * (scripts/chaos/checks.mjs): every acknowledged record present exactly once where its delivery report said, in send
 * order per key; no record read that was never sent; committed offsets never going backwards; nothing delivered to the
 * group below an acknowledged commit; the group reading every acknowledged record; identical replicas.
 *
 *   node scripts/chaos.mjs [--duration 60] [--seed N] [--rate 500] [--partitions 3] [--keys 50]
 *                          [--session-timeout-ms 4000] [--settle-ms 60000] [--out DIR] [--keep]
 *                          [--client-debug eos,msg]   (librdkafka's debug contexts for the producer, in producer.log)
 *   nice -n 10 node scripts/chaos.mjs --duration 1800 --rate 300         # a long run (docs/operations.md)
 *
 * Needs `npm run build` (brokers run bin/kfk.js; ZooKeeper is started with dist/), java with ZooKeeper, kcat, and
 * /usr/bin/python3 with confluent-kafka. Prints one line per fault and, last, the report as one JSON line. Exit code
 * 0 when every check holds, 1 when one fails (the run's files are then kept: broker logs, delivery reports, group
 * history, events), 2 when the run itself failed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startZooKeeper } from '../dist/src/registry/zookeeper-server.js';
import { ZooKeeperRegistry } from '../dist/src/registry/zookeeper.js';
import { brokerIdPath, decodePartitionState, decodeTopicAssignment, partitionStatePath, topicPath } from '../dist/src/registry/paths.js';
import { PRODUCER_EPOCH, batchBaseOffset, batchLastOffset, batchSize } from '../dist/src/protocol/record-batch-header.js';
import { checkHistory } from './chaos/checks.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KFK = path.join(REPO, 'bin', 'kfk.js');
const PYTHON = '/usr/bin/python3';
const TOPIC = 'chaos';
const GROUP = 'chaos-group';

// ---- options ------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const durationS = Number(opt('duration', '60'));
const seed = Number(opt('seed', String(Math.floor(Math.random() * 2 ** 31))));
const rate = Number(opt('rate', '500'));
const partitions = Number(opt('partitions', '3'));
const keys = Number(opt('keys', '50'));
const sessionMs = Number(opt('session-timeout-ms', '4000'));
const settleMs = Number(opt('settle-ms', '60000'));
const clientDebug = opt('client-debug', null);
const keep = flag('keep');
const out = opt('out', null) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kfk-chaos-'));
fs.mkdirSync(out, { recursive: true });

// ---- small helpers ------------------------------------------------------------------------------

/** mulberry32: a seeded PRNG, so that a run's fault schedule can be replayed with --seed. */
function prng(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);
const between = (lo, hi) => Math.round(lo + random() * (hi - lo));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const eventsFile = fs.createWriteStream(path.join(out, 'events.log'));
function event(text) {
  const line = `[${((Date.now() - started) / 1000).toFixed(1).padStart(7)} s] ${text}`;
  eventsFile.write(`${line}\n`);
  process.stderr.write(`${line}\n`);
}

async function until(what, cond, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return true;
    } catch {
      // the registry or a broker is between states: asked again until the deadline
    }
    if (Date.now() >= deadline) {
      event(`gave up waiting (${timeoutMs} ms) for ${what}`);
      return false;
    }
    await sleep(intervalMs);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a command to completion: { code, stdout, stderr }. */
function run(cmd, args, { input, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const so = [];
    const se = [];
    p.stdout.on('data', (c) => so.push(c));
    p.stderr.on('data', (c) => se.push(c));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(so).toString(), stderr: Buffer.concat(se).toString() });
    });
    p.stdin.on('error', () => {});
    p.stdin.end(input ?? '');
  });
}

/** A long-running child with its stdout and stderr appended to a file. */
function background(cmd, args, logFile, { onStdout } = {}) {
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  p.stdout.on('data', (c) => {
    log.write(c);
    onStdout?.(c.toString());
  });
  p.stderr.on('data', (c) => log.write(c));
  p.stdin.on('error', () => {});
  p.exited = new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
  p.exited.then(() => log.end());
  return p;
}

// ---- the cluster --------------------------------------------------------------------------------

class BrokerProcess {
  constructor(id, port, zkConnect) {
    this.id = id;
    this.port = port;
    this.zkConnect = zkConnect;
    this.proc = null;
    this.paused = false;
  }

  get bootstrap() {
    return `127.0.0.1:${this.port}`;
  }

  get running() {
    return this.proc !== null;
  }

  async start() {
    const overrides = {
      'broker.id': this.id,
      listeners: `PLAINTEXT://127.0.0.1:${this.port}`,
      'log.dirs': path.join(out, `broker-${this.id}`),
      'zookeeper.connect': this.zkConnect,
      'zookeeper.session.timeout.ms': sessionMs,
      'replica.lag.time.max.ms': Math.max(2000, Math.round(sessionMs * 0.75)),
      'replica.socket.timeout.ms': 5000,
      'replica.fetch.backoff.ms': 200,
      'offsets.topic.replication.factor': 3,
      'offsets.topic.num.partitions': 3,
      'group.initial.rebalance.delay.ms': 0,
      'min.insync.replicas': 2,
      'controlled.shutdown.retry.backoff.ms': 500,
      'leader.imbalance.check.interval.seconds': 10,
    };
    const args = [KFK, 'server', 'start', ...Object.entries(overrides).flatMap(([k, v]) => ['--override', `${k}=${v}`])];
    let stdout = '';
    const ready = new Promise((resolve, reject) => {
      const p = background(process.execPath, args, path.join(out, `broker-${this.id}.log`), {
        onStdout: (s) => {
          stdout += s;
          if (stdout.includes('started (')) resolve(p);
        },
      });
      p.exited.then(({ code, signal }) => reject(new Error(`broker ${this.id} exited (${code ?? signal}) before it started; see ${path.join(out, `broker-${this.id}.log`)}`)));
      this.proc = p;
    });
    await ready;
    this.proc.exited.then(() => {
      if (this.proc && this.proc.exitCode !== null) this.proc = null;
    });
  }

  signal(sig) {
    this.proc?.kill(sig);
  }

  async kill9() {
    const p = this.proc;
    if (!p) return;
    if (this.paused) this.resume();
    p.kill('SIGKILL');
    await p.exited;
    this.proc = null;
  }

  async stop(timeoutMs = 60_000) {
    const p = this.proc;
    if (!p) return 0;
    if (this.paused) this.resume();
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const { code } = await p.exited;
    clearTimeout(timer);
    this.proc = null;
    return code;
  }

  pause() {
    this.proc?.kill('SIGSTOP');
    this.paused = true;
  }

  resume() {
    this.proc?.kill('SIGCONT');
    this.paused = false;
  }
}

let zk = null;
let registry = null;
const brokers = [];
let producer = null;
const consumers = [];

const bootstrap = () => brokers.map((b) => b.bootstrap).join(',');

async function registered(id) {
  return (await registry.exists(brokerIdPath(id))) !== null;
}

/** Every partition of the topics with a leader and all three replicas in sync. */
async function whole() {
  for (const topic of [TOPIC, '__consumer_offsets']) {
    const node = await registry.get(topicPath(topic));
    if (!node) return topic === '__consumer_offsets'; // created on the group's first use
    for (const p of decodeTopicAssignment(topic, node.data).partitions.keys()) {
      const st = await registry.get(partitionStatePath(topic, p));
      if (!st) return false;
      const s = decodePartitionState(st.data);
      if (s.leader < 0 || s.isr.length < 3) return false;
    }
  }
  for (const b of brokers) if (!(await registered(b.id))) return false;
  return true;
}

/** A client that dies before it is told to stop ends the run: what it would have recorded is missing. */
let clientsStopping = false;
let clientDied = null;
function watchClient(proc, name) {
  proc.exited.then(({ code, signal }) => {
    if (clientsStopping || clientDied) return;
    clientDied = new Error(`${name} exited (${code ?? signal}) during the run; see its log in ${out}`);
    event(clientDied.message);
  });
}

// ---- faults -------------------------------------------------------------------------------------

const faults = { kill: 0, pause: 0, zombie: 0, restart: 0, unsettled: 0, uncleanStops: 0 };

async function injectOne() {
  const b = brokers[Math.floor(random() * brokers.length)];
  const r = random();
  if (r < 0.4) {
    faults.kill++;
    event(`kill -9 broker ${b.id}`);
    await b.kill9();
    await sleep(between(0, 2000));
    // Its registration lives until ZooKeeper expires its session; a broker cannot start under it.
    await until(`broker ${b.id}'s old registration to expire`, async () => !(await registered(b.id)), sessionMs * 4);
    await b.start();
    event(`broker ${b.id} started again`);
  } else if (r < 0.7) {
    const ms = between(500, Math.round(sessionMs * 2.5));
    faults.pause++;
    if (ms > sessionMs) faults.zombie++;
    event(`SIGSTOP broker ${b.id} for ${ms} ms${ms > sessionMs ? ' (past its session timeout)' : ''}`);
    b.pause();
    await sleep(ms);
    b.resume();
    event(`SIGCONT broker ${b.id}`);
  } else {
    faults.restart++;
    event(`SIGTERM broker ${b.id} (controlled shutdown)`);
    const code = await b.stop();
    if (code !== 0) {
      faults.uncleanStops++;
      event(`broker ${b.id} exited with ${code} on SIGTERM`);
    }
    await b.start();
    event(`broker ${b.id} started again`);
  }
  if (settleMs > 0 && !(await until('the cluster to be whole again', whole, settleMs, 200))) faults.unsettled++;
  await sleep(between(500, 1500));
}

// ---- reading what happened ----------------------------------------------------------------------

function readLines(file) {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

function segmentBytes(dir) {
  if (!fs.existsSync(dir)) return Buffer.alloc(0);
  return Buffer.concat(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .map((f) => fs.readFileSync(path.join(dir, f))),
  );
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** The batches of one replica of each partition (replicas are compared byte for byte separately). */
function batchHeaders() {
  const found = [];
  for (let p = 0; p < partitions; p++) {
    const bytes = segmentBytes(path.join(out, `broker-${brokers[0].id}`, `${TOPIC}-${p}`));
    for (let pos = 0; pos + 61 <= bytes.length; pos += batchSize(bytes, pos)) {
      found.push({ partition: p, baseOffset: batchBaseOffset(bytes, pos), lastOffset: batchLastOffset(bytes, pos), producerEpoch: bytes.readInt16BE(pos + PRODUCER_EPOCH) });
    }
  }
  return found;
}

async function compareReplicas() {
  const results = [];
  for (let p = 0; p < partitions; p++) {
    const dirs = brokers.map((b) => path.join(out, `broker-${b.id}`, `${TOPIC}-${p}`));
    let detail = '';
    // With the producer stopped and every replica in sync, the followers reach the leader's log end.
    const identical = await until(
      `identical replicas of ${TOPIC}-${p}`,
      () => {
        const bytes = dirs.map(segmentBytes);
        const diffs = bytes.slice(1).map((b, i) => ({ broker: brokers[i + 1].id, at: firstDifference(bytes[0], b), len: b.length }));
        detail = diffs
          .filter((d) => d.at >= 0)
          .map((d) => `broker ${d.broker} (${d.len} bytes) differs from broker ${brokers[0].id} (${bytes[0].length} bytes) at byte ${d.at}`)
          .join('; ');
        return bytes[0].length > 0 && detail === '';
      },
      30_000,
      500,
    );
    results.push({ topicPartition: `${TOPIC}-${p}`, brokers: brokers.map((b) => b.id), identical, ...(identical ? {} : { detail }) });
  }
  return results;
}

// ---- the run ------------------------------------------------------------------------------------

async function main() {
  event(`seed ${seed}, ${durationS} s of faults, ${rate} records/s, ${partitions} partitions, session timeout ${sessionMs} ms, settle ${settleMs} ms, files in ${out}`);
  zk = await startZooKeeper({ dataDir: path.join(out, 'zookeeper'), port: await freePort(), host: '127.0.0.1', properties: { tickTime: '500' } });
  registry = await ZooKeeperRegistry.connect(zk.connectString, { sessionTimeoutMs: 30_000, connectionTimeoutMs: 30_000 });
  for (let id = 0; id < 3; id++) brokers.push(new BrokerProcess(id, await freePort(), zk.connectString));
  for (const b of brokers) await b.start();
  const created = await run(process.execPath, [KFK, 'topics', '--create', '--bootstrap-server', bootstrap(), '--topic', TOPIC, '--partitions', String(partitions), '--replication-factor', '3', '--config', 'min.insync.replicas=2']);
  if (created.code !== 0) throw new Error(`creating ${TOPIC} failed: ${created.stderr}`);

  const producerArgs = { bootstrap: bootstrap(), topic: TOPIC, keys, rate, out: path.join(out, 'produced.txt'), ...(clientDebug ? { debug: clientDebug } : {}) };
  producer = background(PYTHON, [path.join(REPO, 'scripts/chaos/producer.py'), JSON.stringify(producerArgs)], path.join(out, 'producer.log'));
  watchClient(producer, 'the producer');
  for (const member of [0, 1]) {
    consumers.push(
      background(
        PYTHON,
        [path.join(REPO, 'scripts/chaos/consumer.py'), JSON.stringify({ bootstrap: bootstrap(), topic: TOPIC, group: GROUP, partitions, sample: member === 0, out: path.join(out, `group-${member}.txt`) })],
        path.join(out, `consumer-${member}.log`),
      ),
    );
    watchClient(consumers[member], `consumer ${member}`);
  }
  await until('the group and the producer to get going', () => readLines(path.join(out, 'produced.txt')).length > 0, 60_000, 500);
  await until('the cluster to be whole', whole, 60_000, 200);

  const deadline = Date.now() + durationS * 1000;
  while (Date.now() < deadline && !clientDied) await injectOne();
  if (clientDied) throw clientDied;
  event(`faults done: ${JSON.stringify(faults)}`);

  if (!(await until('the cluster to settle', whole, 60_000, 200))) faults.unsettled++;
  if (clientDied) throw clientDied;
  clientsStopping = true;
  producer.stdin.write('stop\n');
  const producerSummary = await new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve({ error: 'no summary within 330 s' }), 330_000);
    producer.stdout.on('data', (c) => {
      text += c.toString();
      const line = text.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
  });
  event(`producer: ${JSON.stringify(producerSummary)}`);

  const read = await run('kcat', ['-b', bootstrap(), '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%p %o %k %s\\n'], { timeoutMs: 300_000 });
  if (read.code !== 0) throw new Error(`reading ${TOPIC} back failed: ${read.stderr}`);
  const log = read.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [partition, offset, key, value] = l.split(' ');
      return { partition: Number(partition), offset: Number(offset), key, value };
    });
  const ends = new Map();
  for (const r of log) ends.set(r.partition, Math.max(ends.get(r.partition) ?? 0, r.offset + 1));

  // The group catches up with the end of every partition, then stops.
  const groupFiles = [0, 1].map((m) => path.join(out, `group-${m}.txt`));
  await until(
    'the group to reach the end of the topic',
    () => {
      const reached = new Map();
      for (const f of groupFiles) {
        for (const l of readLines(f)) {
          if (!l.startsWith('C ')) continue;
          const [, , p, o] = l.split(' ');
          reached.set(Number(p), Math.max(reached.get(Number(p)) ?? 0, Number(o)));
        }
      }
      return [...ends].every(([p, end]) => (reached.get(p) ?? 0) >= end);
    },
    120_000,
    500,
  );
  for (const c of consumers) c.stdin.write('stop\n');
  await Promise.all(consumers.map((c) => Promise.race([c.exited, sleep(30_000).then(() => c.kill('SIGKILL'))])));

  const replicas = await compareReplicas();

  const deliveries = [];
  const commits = [];
  const samples = [];
  groupFiles.forEach((f, member) => {
    for (const l of readLines(f)) {
      const [kind, t, p, o, key, value] = l.split(' ');
      if (kind === 'D') deliveries.push({ t: Number(t), member, partition: Number(p), offset: Number(o), key, value });
      else if (kind === 'C') commits.push({ t: Number(t), member, partition: Number(p), offset: Number(o) });
      else if (kind === 'S') samples.push({ t: Number(t), partition: Number(p), offset: Number(o) });
    }
  });
  const acked = [];
  for (const l of readLines(path.join(out, 'produced.txt'))) {
    if (!l.startsWith('A ')) continue;
    const [, i, p, o] = l.split(' ');
    acked.push([Number(i), Number(p), Number(o)]);
  }
  const verdict = checkHistory({ keys, produced: producerSummary.produced ?? 0, acked, log, group: { deliveries, commits, samples }, replicas, batches: batchHeaders() });
  const producerOk = producerSummary.fatal === null && producerSummary.unflushed === 0 && producerSummary.error === undefined;
  const report = {
    ok: verdict.ok && producerOk,
    seed,
    durationS,
    rate,
    sessionTimeoutMs: sessionMs,
    settleMs,
    faults,
    producer: producerSummary,
    stats: verdict.stats,
    clientResent: verdict.clientResent,
    checks: [...verdict.checks, { name: 'the producer ended without a fatal error, every record reported', ok: producerOk, violations: producerOk ? 0 : 1, examples: [] }],
    files: out,
  };
  for (const c of report.checks) event(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.ok ? '' : `: ${c.violations} violation(s), e.g. ${c.examples.slice(0, 3).join(' | ')}`}`);
  if (verdict.clientResent.length > 0) {
    event(`note: ${verdict.stats.clientResentDuplicates} record(s) in the log twice, sent again by librdkafka under a new producer epoch (librdkafka issue #4953), e.g. ${verdict.clientResent.slice(0, 3).join(' | ')}`);
  }
  return report;
}

async function shutdown() {
  producer?.kill('SIGKILL');
  for (const c of consumers) c.kill('SIGKILL');
  for (const b of brokers) {
    if (b.paused) b.resume();
    await b.stop(30_000).catch(() => undefined);
  }
  await registry?.close().catch(() => undefined);
  await zk?.stop().catch(() => undefined);
  await new Promise((r) => eventsFile.end(r));
}

// Ctrl-C or SIGTERM: stop everything the run started, keep the files.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    event(`${sig}: stopping`);
    void shutdown().finally(() => {
      process.stderr.write(`files kept in ${out}\n`);
      process.exit(2);
    });
  });
}

let code = 2;
let report = null;
try {
  report = await main();
  code = report.ok ? 0 : 1;
} catch (err) {
  event(`the run failed: ${err.stack ?? err}`);
}
await shutdown();
if (code === 0 && !keep) fs.rmSync(out, { recursive: true, force: true });
else process.stderr.write(`files kept in ${out}\n`);
process.stdout.write(`${JSON.stringify(report ?? { ok: false, seed, error: 'the run failed', files: out })}\n`);
process.exit(code);
