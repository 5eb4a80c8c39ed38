/**
 * The coverage-guided loop: a corpus seeded with client frames, encoder frames and regression
 * inputs; each step either mutates a corpus entry or draws a fresh structure-aware request; an input
 * that reaches code no earlier input reached (V8 block coverage of kfk's sources) joins the corpus.
 * Broken promises are findings, kept once per signature with the input that caused them.
 */
import fc from 'fast-check';
import type { CoverageTracker } from './coverage.js';
import { mutate } from './mutate.js';
import { Rng } from './rng.js';
import type { ExecResult } from './wire.js';

export type FindingKind = 'crash' | 'violation' | 'internal-error' | 'unhealthy';

export interface Finding {
  kind: FindingKind;
  /** Stable across inputs that hit the same bug (numbers and ids stripped). */
  signature: string;
  detail: string;
  /** Inputs sent just before (a process may die a moment after the input that killed it). */
  context?: Buffer[];
}

export interface TargetResult extends ExecResult {
  findings: Finding[];
}

export interface Target {
  exec(frame: Buffer): Promise<TargetResult>;
  /** True once the target cannot run inputs any more (the broker process died). */
  dead?(): boolean;
}

export interface FuzzStats {
  execs: number;
  corpus: number;
  features: number;
  outcomes: Record<string, number>;
  /** Inputs that got no answer before the deadline, by API key (long polls are legitimate). */
  timeoutsByApi: Record<string, number>;
  findings: Map<string, { finding: Finding; count: number; frame: Buffer }>;
  startedAt: number;
}

export interface FuzzerOptions {
  target: Target;
  coverage?: CoverageTracker | null;
  seed: number;
  /** Fresh structure-aware requests. */
  fresh: fc.Arbitrary<Buffer>;
  /** Share of steps that draw a fresh request instead of mutating the corpus. */
  freshRatio?: number;
  onFinding?: (frame: Buffer, finding: Finding, firstOfItsKind: boolean) => void;
  onCorpusAdd?: (frame: Buffer) => void;
}

export class Fuzzer {
  readonly corpus: Buffer[] = [];
  readonly stats: FuzzStats = { execs: 0, corpus: 0, features: 0, outcomes: {}, timeoutsByApi: {}, findings: new Map(), startedAt: Date.now() };
  private readonly rng: Rng;
  private freshQueue: Buffer[] = [];

  constructor(private readonly opts: FuzzerOptions) {
    this.rng = new Rng(opts.seed);
  }

  /** Runs one input, updates coverage, corpus and findings. Returns whether it found something new. */
  async run(frame: Buffer, forceKeep = false): Promise<TargetResult> {
    const res = await this.opts.target.exec(frame);
    this.stats.execs++;
    this.stats.outcomes[res.outcome] = (this.stats.outcomes[res.outcome] ?? 0) + 1;
    if (res.outcome === 'timeout') this.stats.timeoutsByApi[res.apiKey] = (this.stats.timeoutsByApi[res.apiKey] ?? 0) + 1;
    const fresh = this.opts.coverage ? await this.opts.coverage.collect() : 0;
    this.stats.features = this.opts.coverage?.features ?? 0;
    if (forceKeep || fresh > 0) {
      this.corpus.push(frame);
      this.stats.corpus = this.corpus.length;
      this.opts.onCorpusAdd?.(frame);
    }
    for (const f of res.findings) this.record(frame, f);
    return res;
  }

  record(frame: Buffer, finding: Finding): void {
    const known = this.stats.findings.get(finding.signature);
    if (known) known.count++;
    else this.stats.findings.set(finding.signature, { finding, count: 1, frame });
    this.opts.onFinding?.(frame, finding, !known);
  }

  /** The next input: a mutant of a corpus entry or a fresh structure-aware request. */
  next(): Buffer {
    const freshRatio = this.opts.freshRatio ?? 0.3;
    if (this.corpus.length === 0 || this.rng.chance(freshRatio)) return this.drawFresh();
    const parent = this.corpus[this.rng.below(this.corpus.length)]!;
    return mutate(parent, this.rng, () => this.corpus[this.rng.below(this.corpus.length)]!);
  }

  private drawFresh(): Buffer {
    if (this.freshQueue.length === 0) this.freshQueue = fc.sample(this.opts.fresh, { seed: this.rng.u32() | 0, numRuns: 32 });
    return this.freshQueue.pop()!;
  }

  /**
   * Fuzzes until the deadline or the execution budget; `between` runs after every batch of
   * `batchSize` inputs (health checks) and may report findings.
   */
  async loop(opts: { deadline: number; maxExecs: number; batchSize: number; between?: () => Promise<Finding[]>; progress?: () => void }): Promise<void> {
    let inBatch = 0;
    while (Date.now() < opts.deadline && this.stats.execs < opts.maxExecs && !this.opts.target.dead?.()) {
      const frame = this.next();
      await this.run(frame);
      if (++inBatch >= opts.batchSize) {
        inBatch = 0;
        for (const f of (await opts.between?.()) ?? []) this.record(frame, f);
        opts.progress?.();
      }
    }
    for (const f of (await opts.between?.()) ?? []) this.record(Buffer.alloc(0), f);
  }
}

/** Strips what varies between hits of one bug (numbers, ids, addresses) from a message. */
export function signatureOf(kind: FindingKind, text: string): string {
  return `${kind}: ${text
    .replace(/\[[0-9T:.\-Z]+\]/g, '')
    .replace(/127\.0\.0\.1:\d+/g, 'HOST')
    .replace(/\d+/g, 'N')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300)}`;
}
