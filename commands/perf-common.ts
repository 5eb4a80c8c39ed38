/**
 * Pieces the perf tools share: Kafka's ProducerPerformance statistics (windows every 5 s, sampled latencies,
 * the final line), a rate throttle, a live progress bar on a terminal, and Java's number and date formats.
 * Imports nothing heavy.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export const MIB = 1024 * 1024;

/** Java's `%.Nf`. */
export function fixed(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : v > 0 ? 'Infinity' : 'NaN';
}

/** SimpleDateFormat("yyyy-MM-dd HH:mm:ss:SSS") in local time, the perf tools' default date format. */
export function formatDate(ms: number, pattern = 'yyyy-MM-dd HH:mm:ss:SSS'): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const fields: Record<string, string> = {
    yyyy: String(d.getFullYear()),
    MM: pad(d.getMonth() + 1),
    dd: pad(d.getDate()),
    HH: pad(d.getHours()),
    mm: pad(d.getMinutes()),
    ss: pad(d.getSeconds()),
    SSS: pad(d.getMilliseconds(), 3),
  };
  return pattern.replace(/yyyy|MM|dd|HH|mm|ss|SSS/g, (f) => fields[f]!);
}

/** Latency percentiles of a sample (sorted in place), as Kafka's tools pick them: values[floor(p × n)]. */
export function percentiles(sample: Float64Array | Int32Array, count: number, ps: readonly number[]): number[] {
  const sorted = sample.subarray(0, count).sort();
  return ps.map((p) => (count === 0 ? 0 : sorted[Math.min(count - 1, Math.floor(p * count))]!));
}

/** Where progress lines go: plain lines when piped; on a terminal, above a live progress bar. */
export class ProgressOutput {
  private barText = '';
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {
    this.tty = out.isTTY === true;
  }

  get isTTY(): boolean {
    return this.tty;
  }

  line(text: string): void {
    if (this.tty && this.barText) this.out.write('\r\u001b[2K');
    this.out.write(`${text}\n`);
    if (this.tty && this.barText) this.out.write(this.barText);
  }

  /** Redraws the bar (terminal only): `done` of `total`, with a note after it. */
  bar(done: number, total: number, note: string): void {
    if (!this.tty) return;
    const width = 30;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * width);
    this.barText = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${fixed(fraction * 100, 0).padStart(3)}% ${note}`;
    this.out.write(`\r\u001b[2K${this.barText}`);
  }

  clearBar(): void {
    if (!this.tty || !this.barText) return;
    this.out.write('\r\u001b[2K');
    this.barText = '';
  }
}

/**
 * Kafka's ProducerPerformance.Stats: totals, a reporting window (printed every `reportingIntervalMs`), and a
 * sample of latencies (every n-th record, at most 500,000) for the percentiles. Latencies are whole ms, as
 * Kafka's (System.currentTimeMillis differences).
 */
export class ProducerStats {
  readonly start = Date.now();
  count = 0;
  bytes = 0;
  maxLatency = 0;
  totalLatency = 0;
  private windowStart = this.start;
  private windowCount = 0;
  private windowBytes = 0;
  private windowMaxLatency = 0;
  private windowTotalLatency = 0;
  private readonly sampling: number;
  private readonly latencies: Int32Array;
  private sampled = 0;
  private iteration = 0;

  constructor(
    numRecords: number,
    private readonly reportingIntervalMs: number,
    private readonly output: ProgressOutput,
  ) {
    this.sampling = Math.max(1, Math.floor(numRecords / Math.max(1, Math.min(numRecords, 500_000))));
    this.latencies = new Int32Array(Math.ceil(numRecords / this.sampling) + 1);
  }

  /** One record acknowledged `latency` ms after it was sent, carrying `bytes` bytes. */
  record(latency: number, bytes: number, now: number): void {
    this.count++;
    this.bytes += bytes;
    this.totalLatency += latency;
    if (latency > this.maxLatency) this.maxLatency = latency;
    this.windowCount++;
    this.windowBytes += bytes;
    this.windowTotalLatency += latency;
    if (latency > this.windowMaxLatency) this.windowMaxLatency = latency;
    if (this.iteration % this.sampling === 0 && this.sampled < this.latencies.length) this.latencies[this.sampled++] = latency;
    this.iteration++;
    if (now - this.windowStart >= this.reportingIntervalMs) {
      this.printWindow(now);
      this.windowStart = now;
      this.windowCount = 0;
      this.windowBytes = 0;
      this.windowMaxLatency = 0;
      this.windowTotalLatency = 0;
    }
  }

  private printWindow(now: number): void {
    const elapsed = Math.max(1, now - this.windowStart);
    const recsPerSec = (1000 * this.windowCount) / elapsed;
    const mbPerSec = (1000 * this.windowBytes) / elapsed / MIB;
    this.output.line(
      `${this.windowCount} records sent, ${fixed(recsPerSec, 1)} records/sec (${fixed(mbPerSec, 2)} MB/sec), ` +
        `${fixed(this.windowTotalLatency / Math.max(1, this.windowCount), 1)} ms avg latency, ${fixed(this.windowMaxLatency, 1)} ms max latency.`,
    );
  }

  /** Kafka's final line. */
  totalLine(now = Date.now()): string {
    const elapsed = Math.max(1, now - this.start);
    const recsPerSec = (1000 * this.count) / elapsed;
    const mbPerSec = (1000 * this.bytes) / elapsed / MIB;
    const [p50, p95, p99, p999] = percentiles(this.latencies, this.sampled, [0.5, 0.95, 0.99, 0.999]);
    return (
      `${this.count} records sent, ${fixed(recsPerSec, 6)} records/sec (${fixed(mbPerSec, 2)} MB/sec), ` +
      `${fixed(this.count > 0 ? this.totalLatency / this.count : 0, 2)} ms avg latency, ${fixed(this.maxLatency, 2)} ms max latency, ` +
      `${p50} ms 50th, ${p95} ms 95th, ${p99} ms 99th, ${p999} ms 99.9th.`
    );
  }
}

/**
 * Keeps a loop at `perSecond` operations (Kafka's ThroughputThrottler, without blocking the event loop): wait()
 * resolves once the loop is no longer ahead of the rate. A rate ≤ 0 means unthrottled.
 */
export class Throttle {
  private readonly start = performance.now();

  constructor(private readonly perSecond: number) {}

  get unthrottled(): boolean {
    return !(this.perSecond > 0);
  }

  /** Milliseconds to wait before operation number `done` (0-based) may run. */
  aheadBy(done: number): number {
    if (this.unthrottled) return 0;
    return (done * 1000) / this.perSecond - (performance.now() - this.start);
  }

  async wait(done: number): Promise<void> {
    const ahead = this.aheadBy(done);
    // timers have about a millisecond's resolution: sleep only when a whole one is to be waited
    if (ahead >= 1) await sleep(ahead);
  }
}

/** Prints metrics as Kafka's ToolsUtils.printMetrics does: a header and `name : value` with 3 decimals. */
export function printMetrics(metrics: Array<[string, number]>, write: (line: string) => void): void {
  const width = Math.max('Metric Name'.length, ...metrics.map(([name]) => name.length));
  write('');
  write(`${'Metric Name'.padEnd(width)}   Value`);
  for (const [name, value] of metrics.sort(([a], [b]) => a.localeCompare(b))) write(`${name.padEnd(width)} : ${fixed(value, 3)}`);
}
