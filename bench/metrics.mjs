#!/usr/bin/env node
// The per-request cost of the broker's metrics (src/metrics): the counter and histogram updates one produce
// request makes (request count and latency, records and bytes in for one topic), in µs, median of --runs runs of
// --n updates each. Needs `npm run build`. Usage: node bench/metrics.mjs [--n 1000000] [--runs 5]
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = opt('n', 1_000_000);
const RUNS = opt('runs', 5);
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { BrokerMetrics } = await import(path.join(root, 'dist/src/metrics/broker-metrics.js'));
const m = new BrokerMetrics();
const results = [];
for (let r = 0; r < RUNS + 1; r++) {
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    m.requests.inc({ request: 'Produce', version: '9' });
    m.requestTime.observe({ request: 'Produce' }, 0.7);
    m.messagesIn.inc({ topic: 't' }, 10);
    m.bytesIn.inc({ topic: 't' }, 1000);
  }
  if (r > 0) results.push(((performance.now() - t) * 1000) / N); // the first run warms up
}
results.sort((a, b) => a - b);
console.log(`median ${results[Math.floor(results.length / 2)].toFixed(2)} µs per produce request (runs: ${results.map((x) => x.toFixed(2)).join(', ')})`);
process.exit(0);
