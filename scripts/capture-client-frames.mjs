#!/usr/bin/env node
// Captures golden request AND response frames of real clients talking to a real kfk broker.
//
//   node scripts/capture-client-frames.mjs [--only kcat,kafkajs,kafka-python] [--out test/fixtures/frames]
//   node scripts/capture-client-frames.mjs --readme-only      (rewrite only our README section)
//
// Needs a built broker (`npm run build`), kcat, /usr/bin/python3 with the Debian kafka-python, and kafkajs.
// It starts `node bin/kfk.js server start` on a free port, advertising a recording TCP proxy as its listener
// (advertised.listeners), so every connection of every client passes through the proxy, including the ones
// opened after the bootstrap Metadata. For each client and each (api key, version) it saw, it keeps the
// request/response pair with the largest response (a Fetch that returned records rather than an empty one),
// writes `<client>-<api>-v<version>-request.bin` and `...-response.bin` (exact frames, size prefix included),
// lists them in `client-frames.json`, and rewrites its own section at the end of the README.
//
// Unlike scripts/capture-frames.mjs (whose frames are deterministic), these frames contain timestamps,
// topic ids and a cluster id, so each run produces different bytes; the golden test decodes and re-encodes them.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = '/usr/bin/python3';
const API_NAMES = { 0: 'produce', 1: 'fetch', 2: 'listoffsets', 3: 'metadata', 18: 'apiversions', 19: 'createtopics' };
const KEEP_KEYS = new Set(Object.keys(API_NAMES).map(Number));
const README_BEGIN = '<!-- BEGIN capture-client-frames.mjs -->';
const README_END = '<!-- END capture-client-frames.mjs -->';

function parseArgs(argv) {
  const opts = { out: path.join(ROOT, 'test', 'fixtures', 'frames'), only: null, readmeOnly: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') opts.only = new Set(argv[++i].split(','));
    else if (argv[i] === '--out') opts.out = path.resolve(argv[++i]);
    else if (argv[i] === '--readme-only') opts.readmeOnly = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return opts;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- a recording proxy: forwards bytes unchanged, splits both directions into frames -------------------------

class Splitter {
  constructor() {
    this.buf = Buffer.alloc(0);
  }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    const frames = [];
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (size < 0 || this.buf.length < 4 + size) break;
      frames.push(Buffer.from(this.buf.subarray(0, 4 + size)));
      this.buf = this.buf.subarray(4 + size);
    }
    return frames;
  }
}

function requestHeader(frame) {
  const h = { apiKey: frame.readInt16BE(4), apiVersion: frame.readInt16BE(6), correlationId: frame.readInt32BE(8), clientId: null };
  const len = frame.readInt16BE(12);
  if (len >= 0) h.clientId = frame.toString('utf8', 14, 14 + len);
  return h;
}

function startProxy(targetPort) {
  const pairs = []; // { connection, request, response, header }
  let connections = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    const connection = connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const pending = new Map();
    const reqSplit = new Splitter();
    const respSplit = new Splitter();
    client.on('data', (chunk) => {
      upstream.write(chunk);
      for (const frame of reqSplit.push(chunk)) {
        const header = requestHeader(frame);
        const pair = { connection, header, request: frame, response: null };
        pairs.push(pair);
        pending.set(header.correlationId, pair);
      }
    });
    upstream.on('data', (chunk) => {
      client.write(chunk);
      for (const frame of respSplit.push(chunk)) {
        const pair = pending.get(frame.readInt32BE(4));
        if (pair) {
          pair.response = frame;
          pending.delete(pair.header.correlationId);
        }
      }
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        pairs,
        reset() {
          pairs.length = 0;
        },
        close() {
          for (const s of sockets) s.destroy();
          return new Promise((r) => server.close(r));
        },
      }),
    ),
  );
}

// ---- broker and clients ---------------------------------------------------------------------------------------

async function startBroker(port, advertisedPort, dataDir) {
  const proc = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'kfk.js'), 'server', 'start',
      '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`,
      '--override', `advertised.listeners=PLAINTEXT://127.0.0.1:${advertisedPort}`,
      '--override', `log.dirs=${dataDir}`,
      '--override', 'num.partitions=2',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start:\n${out}`)), 20000);
    const onData = (d) => {
      out += d;
      if (/^started \(/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (${code}):\n${out}`));
    });
  });
  return proc;
}

function run(cmd, args, input, env) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${stderr}`));
    });
    p.stdin.end(input ?? '');
  });
}

function version(cmd, args, pattern) {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return (out.match(pattern) ?? [out.trim()])[0];
  } catch {
    return 'unknown';
  }
}

function clients() {
  const kafkajsVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'kafkajs', 'package.json'), 'utf8')).version;
  return [
    {
      name: 'kcat',
      version: () => {
        const v = version('kcat', ['-V'], /Version [^\s]+ \(.*librdkafka [^\s]+/);
        const m = v.match(/Version ([^\s]+) .*librdkafka ([^\s]+)/);
        return m ? `kcat ${m[1]}, librdkafka ${m[2]}` : v;
      },
      topic: 'golden-kcat',
      display:
        "printf 'k1:v1\\nk2:v2\\nk3:v3\\n' | kcat -P -t golden-kcat -K: -H source=kcat; kcat -C -t golden-kcat -o beginning -e",
      async run(bootstrap) {
        await run('kcat', ['-b', bootstrap, '-P', '-t', this.topic, '-K:', '-H', 'source=kcat', '-X', 'linger.ms=20'], 'k1:v1\nk2:v2\nk3:v3\n');
        await run('kcat', ['-b', bootstrap, '-C', '-t', this.topic, '-o', 'beginning', '-e', '-q']);
      },
      note: 'librdkafka: Metadata v4, Produce v7 (acks -1), ListOffsets v2 (to resolve -o beginning), Fetch v11 (read_committed).',
    },
    {
      name: 'kafkajs',
      version: () => `kafkajs ${kafkajsVersion} (Node ${process.version})`,
      topic: 'golden-kafkajs',
      display:
        "admin.createTopics([{ topic: 'golden-kafkajs', numPartitions: 2 }]); producer.send({ acks: -1, messages: [k1..k3, header source=kafkajs] }); admin.fetchTopicOffsets('golden-kafkajs')",
      async run(bootstrap) {
        process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
        const { Kafka, logLevel } = await import('kafkajs');
        const kafka = new Kafka({ clientId: 'kfk-golden', brokers: [bootstrap], logLevel: logLevel.NOTHING });
        const admin = kafka.admin();
        await admin.connect();
        await admin.createTopics({ topics: [{ topic: this.topic, numPartitions: 2 }], waitForLeaders: true });
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({
          topic: this.topic,
          acks: -1,
          messages: [1, 2, 3].map((i) => ({ key: `k${i}`, value: `v${i}`, headers: { source: 'kafkajs' } })),
        });
        await admin.fetchTopicOffsets(this.topic);
        await producer.disconnect();
        await admin.disconnect();
      },
      note: 'kafkajs has no group-less consumer, so there is no kafkajs Fetch (its consumer needs JoinGroup/SyncGroup).',
    },
    {
      name: 'kafka-python',
      version: () => `python3-kafka ${version(PYTHON, ['-c', 'import kafka; print(kafka.__version__)'], /.+/)}`,
      topic: 'golden-kafka-python',
      display:
        "KafkaAdminClient.create_topics([NewTopic('golden-kafka-python', 2, 1)]); KafkaProducer().send(k1..k3, header source=kafka-python); KafkaConsumer(group_id=None).assign + seek_to_beginning + poll",
      async run(bootstrap) {
        const code = `
import sys, time
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
b, t = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=b)
admin.create_topics([NewTopic(t, 2, 1)])
admin.close()
p = KafkaProducer(bootstrap_servers=b, linger_ms=20)
for i in (1, 2, 3):
    p.send(t, key=b'k%d' % i, value=b'v%d' % i, headers=[('source', b'kafka-python')])
p.flush(); p.close()
c = KafkaConsumer(bootstrap_servers=b, group_id=None, enable_auto_commit=False)
tps = [TopicPartition(t, 0), TopicPartition(t, 1)]
c.assign(tps); c.seek_to_beginning(*tps)
end = c.end_offsets(tps)
deadline = time.time() + 15
while any(c.position(tp) < end[tp] for tp in tps) and time.time() < deadline:
    c.poll(timeout_ms=300)
c.close()
`;
        await run(PYTHON, ['-c', code, bootstrap, this.topic]);
      },
      note: 'Admin: CreateTopics v3 to the controller; producer Metadata v1 + Produce v7 (acks 1); consumer ListOffsets v1 + Fetch v4 (the versions hard-coded for an inferred broker >= 2.1).',
    },
  ];
}

// ---- README section ---------------------------------------------------------------------------------------------

function readmeSection(manifest) {
  const lines = [
    README_BEGIN,
    '',
    '# Golden request/response pairs from real clients talking to kfk',
    '',
    'Captured by `scripts/capture-client-frames.mjs` (a separate script from `capture-frames.mjs`, which rewrites',
    'the README above; run `node scripts/capture-client-frames.mjs --readme-only` afterwards to restore this',
    'section). The script starts a kfk broker that advertises a recording proxy as its listener, so every client',
    'connection passes through the proxy, runs each client, and keeps, per api key and version, the request and',
    'response frames with the largest response. The files are listed in `client-frames.json` (not',
    '`manifest.json`). These frames hold timestamps, topic ids and the cluster id, so a re-capture changes their',
    'bytes; `test/unit/golden-frames.test.ts` decodes each one with the generated codecs and re-encodes it byte for',
    'byte (record batches are raw bytes in the codecs and are checked with the record-batch decoder).',
    '',
    `Captured ${manifest.capturedAt} with Node ${manifest.node} against kfk ${manifest.broker}.`,
    '',
  ];
  for (const [name, c] of Object.entries(manifest.clients)) {
    lines.push(`## ${name} (request/response pairs)`, '', `- Client: ${c.version}`, `- Run: \`${c.command}\``);
    if (c.note) lines.push(`- Note: ${c.note}`);
    for (const f of c.files) {
      lines.push(
        `- \`${f.file}\`: ${f.direction} ${f.apiName} v${f.apiVersion} (key ${f.apiKey}), correlation id ${f.correlationId}, ${f.size} bytes`,
      );
    }
    lines.push('');
  }
  lines.push(README_END, '');
  return lines.join('\n');
}

function writeReadme(out, manifest) {
  const file = path.join(out, 'README.md');
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const begin = text.indexOf(README_BEGIN);
  if (begin >= 0) {
    const end = text.indexOf(README_END, begin);
    text = text.slice(0, begin) + text.slice(end < 0 ? text.length : end + README_END.length).replace(/^\n+/, '');
  }
  text = `${text.replace(/\n*$/, '\n\n')}${readmeSection(manifest)}`;
  fs.writeFileSync(file, text);
}

// ---- main -------------------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const manifestPath = path.join(opts.out, 'client-frames.json');
  const manifest = fs.existsSync(manifestPath)
    ? JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
    : { capturedWith: 'node scripts/capture-client-frames.mjs', clients: {} };
  if (opts.readmeOnly) {
    writeReadme(opts.out, manifest);
    return;
  }

  const brokerPort = await freePort();
  const proxy = await startProxy(brokerPort);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfk-golden-'));
  const broker = await startBroker(brokerPort, proxy.port, dataDir);
  const bootstrap = `127.0.0.1:${proxy.port}`;
  let failures = 0;
  try {
    for (const client of clients()) {
      if (opts.only && !opts.only.has(client.name)) continue;
      process.stdout.write(`capturing ${client.name} ... `);
      proxy.reset();
      try {
        await client.run(bootstrap);
      } catch (err) {
        failures++;
        console.log(`FAILED: ${err.message}`);
        continue;
      }
      await new Promise((r) => setTimeout(r, 200));
      // best pair per (key, version): the largest response
      const best = new Map();
      for (const pair of proxy.pairs) {
        const { apiKey, apiVersion } = pair.header;
        if (!KEEP_KEYS.has(apiKey) || !pair.response) continue;
        const id = `${apiKey}:${apiVersion}`;
        const cur = best.get(id);
        if (!cur || pair.response.length > cur.response.length) best.set(id, pair);
      }
      for (const f of manifest.clients[client.name]?.files ?? []) fs.rmSync(path.join(opts.out, f.file), { force: true });
      const files = [];
      const sorted = [...best.values()].sort((a, b) => a.header.apiKey - b.header.apiKey || a.header.apiVersion - b.header.apiVersion);
      for (const pair of sorted) {
        const { apiKey, apiVersion, correlationId, clientId } = pair.header;
        for (const direction of ['request', 'response']) {
          const bytes = pair[direction];
          const file = `${client.name}-${API_NAMES[apiKey]}-v${apiVersion}-${direction}.bin`;
          fs.writeFileSync(path.join(opts.out, file), bytes);
          files.push({
            file,
            direction,
            apiKey,
            apiName: API_NAMES[apiKey],
            apiVersion,
            correlationId,
            clientId,
            size: bytes.length,
            sha256: createHash('sha256').update(bytes).digest('hex'),
          });
        }
      }
      manifest.clients[client.name] = {
        version: client.version(),
        command: client.display,
        topic: client.topic,
        note: client.note,
        files,
      };
      console.log(sorted.map((p) => `${API_NAMES[p.header.apiKey]} v${p.header.apiVersion}`).join(', '));
    }
  } finally {
    broker.kill('SIGTERM');
    await new Promise((r) => broker.once('exit', r));
    await proxy.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  manifest.capturedAt = new Date().toISOString().slice(0, 10);
  manifest.node = process.version;
  manifest.broker = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  writeReadme(opts.out, manifest);
  if (failures > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
