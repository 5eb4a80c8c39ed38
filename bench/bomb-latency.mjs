#!/usr/bin/env node
/**
 * What a compression bomb does to other clients: a broker process (this tree's bin/kfk.js, or --root <dir> for
 * another checkout) gets --bombs Produce requests at once, each on its own connection, each one batch whose
 * records are 1 GiB of zeros (gzip: 1024 concatenated members, ~1.08 MB; zstd: one streamed frame without a
 * content size, ~32 KB), for a topic with cleanup.policy=compact (before issue 8 the compacted-topic key check
 * inflated such a batch whole) or not (--plain). Meanwhile another connection sends ApiVersions requests one
 * after the other; the script reports their round-trip times (median, p99, max) while the bombs were in
 * flight, how long the bombs took to be answered and with which error, and the broker's VmHWM before and
 * after (from /proc/<pid>/status).
 *
 *   npm run build && node bench/bomb-latency.mjs [--codec gzip|zstd] [--bombs 4] [--plain] [--root <checkout>]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const root = resolve(arg('root', here));
const codec = arg('codec', 'gzip');
const bombs = Number(arg('bombs', 4));
const compacted = !process.argv.includes('--plain');

// The codecs and request builders come from this tree (the wire format is the same for both brokers).
const { buildRecordBatch, setBatchCrc } = await import(`${here}/dist/src/protocol/records.js`);
const { Writer, Reader } = await import(`${here}/dist/src/protocol/primitives.js`);
const { API_CODECS, requestHeaderVersion, responseHeaderVersion } = await import(`${here}/dist/src/protocol/generated/apis.js`);
const { sizeRequestHeader, writeRequestHeader } = await import(`${here}/dist/src/protocol/generated/request-header.js`);
const { readResponseHeader } = await import(`${here}/dist/src/protocol/generated/response-header.js`);
const zstd = (await import('zstd-napi/binding.js')).default;

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

function frame(apiKey, version, correlationId, body) {
  const codecDef = API_CODECS.get(apiKey);
  const hv = requestHeaderVersion(apiKey, version);
  const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'bomb-bench' };
  const size = sizeRequestHeader(header, hv) + codecDef.sizeRequest(body, version);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codecDef.writeRequest(w, body, version);
  return w.finish();
}

/** A connection that resolves each request's promise with the decoded response. */
function open(port) {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1');
    const waiting = new Map();
    let buf = Buffer.alloc(0);
    let next = 1;
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const f = buf.subarray(0, 4 + buf.readInt32BE(0));
        buf = buf.subarray(f.length);
        const w = waiting.get(f.readInt32BE(4));
        if (w) {
          waiting.delete(f.readInt32BE(4));
          const r = new Reader(f, 4);
          readResponseHeader(r, responseHeaderVersion(w.apiKey, w.version));
          w.resolve(API_CODECS.get(w.apiKey).readResponse(r, w.version));
        }
      }
    });
    s.once('connect', () =>
      res({
        request: (apiKey, version, body) =>
          new Promise((resolve) => {
            const id = next++;
            waiting.set(id, { apiKey, version, resolve });
            s.write(frame(apiKey, version, id, body));
          }),
        close: () => s.destroy(),
      }),
    );
    s.once('error', rej);
  });
}

const ZEROS = Buffer.alloc(1 << 20);
function bombBody() {
  if (codec === 'gzip') return Buffer.concat(Array(1024).fill(gzipSync(ZEROS, { level: 9 })));
  const cctx = new zstd.CCtx();
  const out = [];
  const dst = Buffer.alloc(1 << 16);
  for (let i = 0; i <= 1024; i++) {
    let src = i < 1024 ? ZEROS : Buffer.alloc(0);
    const end = i === 1024;
    for (;;) {
      const [remaining, written, consumed] = cctx.compressStream2(dst, src, end ? zstd.EndDirective.end : zstd.EndDirective.continue);
      out.push(Buffer.from(dst.subarray(0, written)));
      src = src.subarray(consumed);
      if (end ? remaining === 0 : src.length === 0) break;
    }
  }
  return Buffer.concat(out);
}

function bombBatch() {
  const head = buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('v'), timestamp: Date.now() }]).subarray(0, 61);
  const batch = Buffer.concat([head, bombBody()]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(codec === 'gzip' ? 1 : 4, 21);
  setBatchCrc(batch);
  return batch;
}

const hwm = (pid) => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

const dir = mkdtempSync(join(tmpdir(), 'kfk-bomb-'));
const port = await freePort();
const broker = spawn(process.execPath, [join(root, 'bin/kfk.js'), 'server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}`, '--override', 'message.max.bytes=1200000'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((res, rej) => {
  let out = '';
  broker.stdout.on('data', (d) => {
    out += d;
    if (out.includes('started (')) res();
  });
  broker.on('exit', (c) => rej(new Error(`broker exited ${c}`)));
});
try {
  const admin = await open(port);
  const topic = 'bombed';
  await admin.request(19, 4, {
    topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  const batch = bombBatch();
  const other = await open(port);
  for (let i = 0; i < 20; i++) await other.request(18, 3, { clientSoftwareName: 'b', clientSoftwareVersion: '1' }); // warm up
  const hwmBefore = hwm(broker.pid);
  const conns = await Promise.all(Array.from({ length: bombs }, () => open(port)));
  const t0 = performance.now();
  let done = 0;
  const codes = [];
  const pending = conns.map((c) =>
    c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 30000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] }).then((r) => {
      codes.push(r.responses[0].partitionResponses[0].errorCode);
      done++;
    }),
  );
  const rtts = [];
  while (done < bombs) {
    const s = performance.now();
    await other.request(18, 3, { clientSoftwareName: 'b', clientSoftwareVersion: '1' });
    rtts.push(performance.now() - s);
  }
  await Promise.all(pending);
  const totalMs = performance.now() - t0;
  const hwmAfter = hwm(broker.pid);
  console.log(`broker ${root}: ${bombs} ${codec} bombs (1 GiB of zeros, ${batch.length} B each) to a ${compacted ? 'compacted' : 'plain'} topic`);
  console.log(`  answered after ${totalMs.toFixed(0)} ms with error codes ${[...new Set(codes)].join(',')}`);
  console.log(`  ApiVersions meanwhile: ${rtts.length} round trips, median ${pct(rtts, 0.5).toFixed(1)} ms, p99 ${pct(rtts, 0.99).toFixed(1)} ms, max ${Math.max(...rtts).toFixed(1)} ms`);
  console.log(`  broker VmHWM ${(hwmBefore / 1024).toFixed(0)} MiB → ${(hwmAfter / 1024).toFixed(0)} MiB`);
  for (const c of [admin, other, ...conns]) c.close();
} finally {
  broker.kill('SIGTERM');
  await new Promise((r) => broker.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
