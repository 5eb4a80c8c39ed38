#!/usr/bin/env node
/**
 * The broker's work per Fetch: one connection fetches a partition from offset 0 to its end, one request after the
 * other (no fetch ahead), and the round trips are timed. The records (--records of --size bytes) are loaded first
 * with kcat. Isolates what the broker does per fetch (find the batch, read the file range, write the response) from
 * any client's record handling.
 *
 *   npm run build && node bench/fetch-round-trip.mjs [--records 1000000] [--size 100] [--fetch-bytes 1048576] [--runs 3] [--root <checkout>]
 *
 * --root runs another checkout's broker (built), to compare two builds in one session; the client is this tree's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, run, startServer, stopServer } from './lib/proc.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const records = arg('records', 1_000_000);
const size = arg('size', 100);
const fetchBytes = arg('fetch-bytes', 1 << 20);
const runs = arg('runs', 3);
const rootIndex = process.argv.indexOf('--root');
const brokerRoot = rootIndex >= 0 ? resolve(process.argv[rootIndex + 1]) : root;
const { BrokerConnection } = await import(`${root}/dist/src/client/connection.js`);

const dir = mkdtempSync(join(tmpdir(), 'kfk-fetch-rt-'));
const port = await freePort();
const broker = await startServer(process.execPath, [join(brokerRoot, 'bin/kfk.js'), 'server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dir}/logs`], 'started (');
try {
  const file = join(dir, 'input.txt');
  writeFileSync(file, Buffer.alloc(size, 'x').fill(10, size - 1).toString('latin1').repeat(records));
  const load = await run('kcat', ['-b', `127.0.0.1:${port}`, '-P', '-t', 'rt', '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.messages=2000000', '-l', file]);
  if (load.code !== 0) throw new Error(`kcat -P: ${load.stderr}`);
  const conn = await BrokerConnection.connect({ host: '127.0.0.1', port });
  const body = (offset) => ({
    clusterId: null, replicaId: -1, replicaState: { replicaId: -1, replicaEpoch: -1 }, maxWaitMs: 500, minBytes: 1, maxBytes: 52428800,
    isolationLevel: 0, sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], rackId: '',
    topics: [{ topic: 'rt', topicId: Buffer.alloc(16), partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: fetchBytes }] }],
  });
  const medians = [];
  const rates = [];
  for (let r = 0; r < runs; r++) {
    const times = [];
    let offset = 0;
    const t0 = performance.now();
    while (offset < records) {
      const s = performance.now();
      const resp = await conn.request(1, body(offset), { version: 11 });
      times.push(performance.now() - s);
      const data = resp.responses[0].partitions[0].records;
      let pos = 0;
      while (pos + 61 <= data.length) {
        const batch = data.readInt32BE(pos + 8) + 12;
        if (pos + batch > data.length) break;
        offset = data.readInt32BE(pos) * 2 ** 32 + data.readUInt32BE(pos + 4) + data.readInt32BE(pos + 23) + 1;
        pos += batch;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    medians.push(median(times));
    rates.push(records / seconds);
    console.log(`run ${r + 1}: ${times.length} fetches of up to ${fetchBytes} B, median round trip ${median(times).toFixed(2)} ms, ${Math.round(records / seconds)} records/s`);
  }
  conn.close();
  console.log(`median of runs: round trip ${median(medians).toFixed(2)} ms, ${Math.round(median(rates))} records/s`);
} finally {
  await stopServer(broker);
  rmSync(dir, { recursive: true, force: true });
}
