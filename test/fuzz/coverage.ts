/**
 * Coverage feedback for the in-process target, from V8's own block coverage (the inspector's
 * Profiler.takePreciseCoverage, which also resets the counters). A feature is one executed block of
 * kfk's code with its hit count bucketed as AFL does (1, 2, 3, 4-7, 8-15, ...), so an input that
 * runs a known block a new number of times (a loop over array elements) also counts as new.
 */
import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: CoverageRange[];
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

function bucket(count: number): number {
  if (count <= 3) return count;
  return 4 + (31 - Math.clz32(count)); // 4-7 -> 6, 8-15 -> 7, ...
}

export class CoverageTracker {
  private readonly session = new Session();
  private readonly seen = new Set<string>();
  private started = false;

  /** @param include which scripts count (kfk's own code, not node_modules or the fuzzer). */
  constructor(private readonly include: (url: string) => boolean) {}

  async start(): Promise<void> {
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    this.started = true;
    await this.collect(); // drop what start-up ran
    this.seen.clear();
  }

  get features(): number {
    return this.seen.size;
  }

  /** Takes (and resets) the counters; returns how many features were never seen before. */
  async collect(): Promise<number> {
    if (!this.started) return 0;
    const res = (await this.post('Profiler.takePreciseCoverage')) as { result: ScriptCoverage[] };
    let fresh = 0;
    for (const script of res.result) {
      if (!this.include(script.url)) continue;
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          if (r.count === 0) continue;
          const key = `${script.url}:${r.startOffset}:${r.endOffset}:${bucket(r.count)}`;
          if (!this.seen.has(key)) {
            this.seen.add(key);
            fresh++;
          }
        }
      }
    }
    return fresh;
  }

  /** Executed blocks (ignoring hit counts), for reports. */
  blocks(): number {
    const b = new Set<string>();
    for (const k of this.seen) b.add(k.slice(0, k.lastIndexOf(':')));
    return b.size;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.post('Profiler.stopPreciseCoverage').catch(() => undefined);
    this.session.disconnect();
  }

  private post(method: string, params?: object): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))),
    );
  }
}

/** kfk's code, compiled (dist/src) or as vitest loads it (src/*.ts). */
export function isKfkSource(url: string): boolean {
  return (url.includes('/dist/src/') || url.includes('/src/')) && !url.includes('node_modules') && !url.includes('/test/');
}
