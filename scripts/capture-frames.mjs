#!/usr/bin/env node
// Capture the first request frame(s) real Kafka clients send, without a broker.
//
// For each client: start a fake server on 127.0.0.1:<random> that accepts connections and never answers, run the
// client against it, record every complete frame (int32 size prefix + body) on the first connection, then kill the
// client. The frames are written as exact bytes (size prefix included) to the output directory together with
// manifest.json and README.md.
//
//   node scripts/capture-frames.mjs [--out test/fixtures/frames] [--only kcat,kafka-python] [--timeout 10000]
//
// Needs: kcat, /usr/bin/python3 with python3-kafka and python3-confluent-kafka, and the npm devDependencies
// kafkajs and @platformatic/kafka.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PY = '/usr/bin/python3';

const API_NAMES = {
  0: 'produce', 1: 'fetch', 2: 'listoffsets', 3: 'metadata', 8: 'offsetcommit', 9: 'offsetfetch',
  10: 'findcoordinator', 11: 'joingroup', 12: 'heartbeat', 13: 'leavegroup', 14: 'syncgroup',
  15: 'describegroups', 16: 'listgroups', 17: 'saslhandshake', 18: 'apiversions', 19: 'createtopics',
  20: 'deletetopics', 22: 'initproducerid', 36: 'saslauthenticate',
};

function parseArgs(argv) {
  const opts = { out: path.join(ROOT, 'test', 'fixtures', 'frames'), only: undefined, timeout: 10_000, settle: 600 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = path.resolve(argv[++i]);
    else if (a === '--only') opts.only = new Set(argv[++i].split(','));
    else if (a === '--timeout') opts.timeout = Number(argv[++i]);
    else if (a === '--settle') opts.settle = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/capture-frames.mjs [--out DIR] [--only a,b] [--timeout MS] [--settle MS]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

function tryExec(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT }).trim();
  } catch {
    return 'unknown';
  }
}

function npmVersion(pkg) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

const dpkgVersion = (pkg) => tryExec('dpkg-query', ['-W', '-f=${Version}', pkg]);

/** Clients to capture. `expect` = number of frames to wait for on the first connection. */
function clients() {
  return [
    {
      name: 'kcat',
      expect: 1,
      version: () => `kcat ${dpkgVersion('kcat')}, librdkafka ${dpkgVersion('librdkafka1')}`,
      command: (bs) => ['kcat', ['-b', bs, '-L', '-m', '2']],
      display: 'kcat -b 127.0.0.1:<port> -L -m 2',
      note:
        'librdkafka waits for the ApiVersions answer before sending anything else (max in-flight 1 during the ' +
        'handshake). Header v2: client_id is an int16 string, then a tag byte; the body has compact strings ' +
        'ClientSoftwareName "librdkafka" and ClientSoftwareVersion "2.0.2".',
    },
    {
      name: 'kafka-python',
      expect: 2,
      version: () => `python3-kafka ${dpkgVersion('python3-kafka')}`,
      command: (bs) => [
        PY,
        ['-c', `from kafka import KafkaProducer; KafkaProducer(bootstrap_servers='${bs}', api_version_auto_timeout_ms=1500)`],
      ],
      note:
        'The version probe: ApiVersions v0, then about 100 ms later, WITHOUT waiting for an answer, Metadata v0 with ' +
        'topics=[] (which in v0 means all topics) on the same socket. A broker must answer both, in order.',
      display:
        "/usr/bin/python3 -c \"from kafka import KafkaProducer; KafkaProducer(bootstrap_servers='127.0.0.1:<port>', api_version_auto_timeout_ms=1500)\"",
    },
    {
      name: 'kafkajs',
      expect: 1,
      version: () => `kafkajs ${npmVersion('kafkajs')} (Node ${process.version})`,
      command: (bs) => [
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { Kafka, logLevel } from 'kafkajs';
const kafka = new Kafka({ clientId: 'kafkajs', brokers: ['${bs}'], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
const admin = kafka.admin();
await admin.connect().catch(() => {});
process.exit(0);`,
        ],
      ],
      note: 'kafkajs numbers correlation ids from 0 (the other clients start at 1). ApiVersions v2 has an empty body.',
      display:
        "node: new Kafka({ clientId: 'kafkajs', brokers: ['127.0.0.1:<port>'] }).admin().connect()",
    },
    {
      name: 'platformatic',
      expect: 1,
      version: () => `@platformatic/kafka ${npmVersion('@platformatic/kafka')} (Node ${process.version})`,
      command: (bs) => [
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { Admin } from '@platformatic/kafka';
const admin = new Admin({ clientId: 'kfk-capture', bootstrapBrokers: ['${bs}'], retries: 0, timeout: 5000 });
await admin.metadata({ topics: [] }).catch(() => {});
await admin.close().catch(() => {});
process.exit(0);`,
        ],
      ],
      note:
        'clientId is mandatory in this client. Header v2 + compact ClientSoftwareName "platformatic-kafka" / ' +
        'ClientSoftwareVersion "1.35.0". This client only implements ApiVersions v3 (no fallback).',
      display:
        "node: new Admin({ clientId: 'kfk-capture', bootstrapBrokers: ['127.0.0.1:<port>'] }).metadata({ topics: [] })",
    },
    {
      name: 'confluent-kafka',
      expect: 1,
      version: () =>
        `python3-confluent-kafka ${dpkgVersion('python3-confluent-kafka')} (librdkafka ${dpkgVersion('librdkafka1')})`,
      command: (bs) => [
        PY,
        [
          '-c',
          `from confluent_kafka.admin import AdminClient; AdminClient({'bootstrap.servers': '${bs}'}).list_topics(timeout=3)`,
        ],
      ],
      note:
        'Same librdkafka 2.0.2 as kcat, but ClientSoftwareName "confluent-kafka-python" and ClientSoftwareVersion ' +
        '"1.7.0-rdkafka-2.0.2" (client_id is still "rdkafka").',
      display:
        "/usr/bin/python3 -c \"from confluent_kafka.admin import AdminClient; AdminClient({'bootstrap.servers': '127.0.0.1:<port>'}).list_topics(timeout=3)\"",
    },
  ];
}

/** Split a byte stream into frames (size prefix included). */
class Splitter {
  buf = Buffer.alloc(0);
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out = [];
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (size < 0 || this.buf.length < 4 + size) break;
      out.push(Buffer.from(this.buf.subarray(0, 4 + size)));
      this.buf = this.buf.subarray(4 + size);
    }
    return out;
  }
}

function header(frame) {
  const h = { apiKey: frame.readInt16BE(4), apiVersion: frame.readInt16BE(6), correlationId: frame.readInt32BE(8) };
  const len = frame.readInt16BE(12);
  h.clientId = len < 0 ? null : frame.toString('utf8', 14, 14 + len);
  return h;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function capture(client, opts) {
  const conns = []; // [{ frames: [], bytes: number, at: number }]
  const sockets = new Set();
  let changed = () => {};
  const server = net.createServer((sock) => {
    sockets.add(sock);
    const conn = { frames: [], bytes: 0, t0: Date.now() };
    conns.push(conn);
    const sp = new Splitter();
    sock.on('data', (chunk) => {
      conn.bytes += chunk.length;
      for (const f of sp.push(chunk)) conn.frames.push({ bytes: f, atMs: Date.now() - conn.t0 });
      changed();
    });
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const bs = `127.0.0.1:${server.address().port}`;
  const [cmd, args] = client.command(bs);
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  child.stdout.on('data', () => {});
  let exited = false;
  const exitP = new Promise((r) => child.on('close', (code, signal) => { exited = true; r({ code, signal }); }));

  const have = () => (conns[0]?.frames.length ?? 0) >= client.expect;
  const deadline = Date.now() + opts.timeout;
  while (!have() && !exited && Date.now() < deadline) {
    await Promise.race([new Promise((r) => (changed = r)), sleep(50), exitP]);
  }
  const complete = have();
  // Give pipelined extras a moment to show up, then end the client.
  if (complete && !exited) await sleep(opts.settle);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
  const exit = await Promise.race([exitP, sleep(3000).then(() => ({ code: null, signal: 'timeout' }))]);
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  return { conns, complete, exit, stderr: stderr.slice(-2000) };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.out, { recursive: true });
  const manifestPath = path.join(opts.out, 'manifest.json');
  const manifest = fs.existsSync(manifestPath)
    ? JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
    : { capturedWith: 'node scripts/capture-frames.mjs', clients: {} };
  let failures = 0;
  for (const client of clients()) {
    if (opts.only && !opts.only.has(client.name)) continue;
    process.stdout.write(`capturing ${client.name} ... `);
    const res = await capture(client, opts);
    if (!res.complete) {
      failures++;
      const got = res.conns[0]?.frames.length ?? 0;
      console.log(`FAILED (got ${got}/${client.expect} frames; exit ${JSON.stringify(res.exit)})\n${res.stderr}`);
      continue;
    }
    // Remove this client's old files.
    const old = manifest.clients[client.name]?.files ?? [];
    for (const f of old) fs.rmSync(path.join(opts.out, f.file), { force: true });

    const files = [];
    const used = new Set();
    for (const { bytes, atMs } of res.conns[0].frames) {
      const h = header(bytes);
      let base = `${client.name}-${API_NAMES[h.apiKey] ?? `key${h.apiKey}`}-v${h.apiVersion}`;
      let name = `${base}.bin`;
      for (let n = 2; used.has(name); n++) name = `${base}-${n}.bin`;
      used.add(name);
      fs.writeFileSync(path.join(opts.out, name), bytes);
      files.push({
        file: name,
        apiKey: h.apiKey,
        apiName: API_NAMES[h.apiKey] ?? null,
        apiVersion: h.apiVersion,
        correlationId: h.correlationId,
        clientId: h.clientId,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
    manifest.clients[client.name] = {
      version: client.version(),
      command: client.display,
      note: client.note,
      connections: res.conns.length,
      framesOnFirstConnection: res.conns[0].frames.length,
      files,
    };
    console.log(res.conns[0].frames.map(({ atMs }, i) => `${files[i].file} (${files[i].size} B, +${atMs} ms)`).join(', '));
  }
  manifest.capturedAt ??= new Date().toISOString().slice(0, 10);
  manifest.node = process.version;
  fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(path.join(opts.out, 'README.md'), readme(manifest));
  if (failures > 0) process.exitCode = 1;
}

function readme(manifest) {
  const lines = [
    '# Golden request frames from real clients',
    '',
    'Each `.bin` file holds one request frame exactly as the client put it on the wire: the 4-byte big-endian size',
    'prefix followed by the request header and body. They were captured without a broker by',
    '`scripts/capture-frames.mjs`, which runs a fake server that accepts the connection, records complete frames and',
    'never answers. Each client was killed once the expected frames had arrived (and a short settle time had',
    'passed to catch pipelined extras). `manifest.json` lists every file with its api key/version, correlation id,',
    'client id, size and SHA-256.',
    '',
    'Regenerate (all clients, or some): `node scripts/capture-frames.mjs [--only kcat,kafka-python]`.',
    'Regeneration is deterministic for these client versions (the frames contain no timestamps or random ids);',
    'a changed SHA-256 means a client version changed.',
    '',
    `Captured ${manifest.capturedAt} with Node ${manifest.node} on Debian.`,
    '',
  ];
  for (const [name, c] of Object.entries(manifest.clients)) {
    lines.push(`## ${name}`, '', `- Client: ${c.version}`, `- Command: \`${c.command}\``);
    lines.push(`- Connections opened during the capture: ${c.connections}; frames on the first: ${c.framesOnFirstConnection}`);
    if (c.note) lines.push(`- Note: ${c.note}`);
    for (const f of c.files) {
      lines.push(
        `- \`${f.file}\`: ${f.apiName ?? `api key ${f.apiKey}`} v${f.apiVersion} (key ${f.apiKey}), correlation id ${f.correlationId}, ` +
          `client id ${JSON.stringify(f.clientId)}, ${f.size} bytes`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
