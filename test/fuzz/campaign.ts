/**
 * A fuzz campaign, as CI's short pass and `npm run fuzz` run it:
 *   1. in-process, coverage-guided: seeds (client frames, encoder frames, regression inputs, and
 *      the saved corpus of earlier runs), then mutants and fresh structure-aware requests;
 *   2. against a broker process: the regression inputs, the client frames and the corpus of phase 1
 *      replayed, then mutants and fresh requests, with health, liveness and RSS checks per batch
 *      and the end-of-run checks (stderr, canary topic with kcat, clean stop).
 * Findings are kept once per signature with the input that caused them (and saved under
 * <out>/crashes when an output directory is given).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CoverageTracker, isKfkSource } from './coverage.js';
import { Fuzzer, type Finding, type FuzzStats } from './engine.js';
import { startInProcessTarget } from './inproc.js';
import { startProcessTarget } from './process-target.js';
import { anyFrameArb } from './request-gen.js';
import { encoderSeeds, goldenSeeds, regressionSeeds, type Seed } from './seeds.js';

export interface PhaseBudget {
  /** Wall-clock cap. */
  ms: number;
  /** Execution cap (CI uses this, so a pass does a fixed amount of work). */
  maxExecs: number;
}

export interface CampaignOptions {
  seed: number;
  inProcess: PhaseBudget;
  process: PhaseBudget;
  /** Inputs between health checks. */
  batchSize: number;
  rssLimitBytes: number;
  /** Where to keep the corpus and crashing inputs (none: keep nothing). */
  outDir?: string | null;
  regressionDir?: string;
  log?: (line: string) => void;
}

export interface PhaseReport {
  execs: number;
  corpus: number;
  features: number;
  blocks: number;
  outcomes: Record<string, number>;
  timeoutsByApi: Record<string, number>;
  seconds: number;
  maxRssMiB?: number;
}

export interface CampaignFinding extends Finding {
  count: number;
  phase: 'in-process' | 'process';
  frame: Buffer;
  file?: string;
}

export interface CampaignReport {
  inProcess: PhaseReport;
  process: PhaseReport;
  apis: number;
  versions: number;
  seeds: { golden: number; encoder: number; regression: number; savedCorpus: number };
  findings: CampaignFinding[];
}

const sha = (b: Buffer): string => crypto.createHash('sha1').update(b).digest('hex').slice(0, 16);

function loadDir(dir: string): Seed[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => ({ name: f, frame: fs.readFileSync(path.join(dir, f)) }));
}

function phaseReport(stats: FuzzStats, fuzzer: Fuzzer, coverage: CoverageTracker | null): PhaseReport {
  return {
    execs: stats.execs,
    corpus: fuzzer.corpus.length,
    features: coverage?.features ?? 0,
    blocks: coverage?.blocks() ?? 0,
    outcomes: { ...stats.outcomes },
    timeoutsByApi: { ...stats.timeoutsByApi },
    seconds: Math.round((Date.now() - stats.startedAt) / 100) / 10,
  };
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const log = opts.log ?? (() => undefined);
  const crashDir = opts.outDir ? path.join(opts.outDir, 'crashes') : null;
  const corpusDir = opts.outDir ? path.join(opts.outDir, 'corpus') : null;
  if (crashDir) fs.mkdirSync(crashDir, { recursive: true });
  if (corpusDir) fs.mkdirSync(corpusDir, { recursive: true });
  const findings: CampaignFinding[] = [];
  const onFinding =
    (phase: CampaignFinding['phase']) =>
    (frame: Buffer, f: Finding, first: boolean): void => {
      const known = findings.find((x) => x.signature === f.signature);
      if (known) {
        known.count++;
        return;
      }
      const entry: CampaignFinding = { ...f, count: 1, phase, frame };
      if (crashDir && first && frame.length > 0) {
        const base = `${f.kind}-${sha(frame)}`;
        fs.writeFileSync(path.join(crashDir, `${base}.bin`), frame);
        fs.writeFileSync(path.join(crashDir, `${base}.txt`), `${f.signature}\n\n${f.detail}\n`);
        // Inputs sent just before, oldest first (replay them all: any of them may be the culprit).
        (f.context ?? []).forEach((c, i) => fs.writeFileSync(path.join(crashDir, `${base}.before-${i}.bin`), c));
        entry.file = path.join(crashDir, `${base}.bin`);
      }
      findings.push(entry);
      log(`finding (${phase}): ${f.signature}`);
    };

  const golden = goldenSeeds();
  const regression = regressionSeeds(opts.regressionDir);
  const saved = corpusDir ? loadDir(corpusDir) : [];

  // ---- phase 1: in-process, coverage-guided
  // The fuzzing process also holds vitest, the fuzzer and its corpus: twice the broker's bound.
  const inproc = await startInProcessTarget({ rssLimitBytes: 2 * opts.rssLimitBytes });
  const coverage = new CoverageTracker(isKfkSource);
  let p1: PhaseReport;
  let corpus: Buffer[];
  let encoderCount = 0;
  let apis = 0;
  let versions = 0;
  try {
    await coverage.start();
    const fuzzer = new Fuzzer({
      target: inproc,
      coverage,
      seed: opts.seed,
      fresh: anyFrameArb(inproc.ctx),
      onFinding: onFinding('in-process'),
      onCorpusAdd: (frame) => {
        if (corpusDir) fs.writeFileSync(path.join(corpusDir, `${sha(frame)}.bin`), frame);
      },
    });
    const encoder = encoderSeeds(inproc.ctx);
    encoderCount = encoder.length;
    apis = inproc.ctx.advertised.length;
    versions = encoder.length;
    const deadline = Date.now() + opts.inProcess.ms;
    for (const s of [...regression, ...golden, ...encoder, ...saved]) {
      if (Date.now() > deadline) break;
      await fuzzer.run(s.frame, true);
    }
    log(`in-process: ${fuzzer.stats.execs} seeds run, ${coverage.features} coverage features`);
    let lastProgress = Date.now();
    await fuzzer.loop({
      deadline,
      maxExecs: opts.inProcess.maxExecs,
      batchSize: opts.batchSize,
      between: () => inproc.between(),
      progress: () => {
        if (Date.now() - lastProgress < Number(process.env.KFK_FUZZ_PROGRESS_MS ?? 30_000)) return;
        lastProgress = Date.now();
        const s = fuzzer.stats;
        const m = process.memoryUsage();
        const mib = (n: number): number => Math.round(n / 2 ** 20);
        log(
          `in-process: ${s.execs} execs, corpus ${fuzzer.corpus.length}, ${coverage.features} features, ${findings.length} findings; ` +
            `memory: rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB, buffers ${mib(m.arrayBuffers)} MiB`,
        );
      },
    });
    p1 = phaseReport(fuzzer.stats, fuzzer, coverage);
    corpus = fuzzer.corpus;
  } finally {
    await coverage.stop();
    await inproc.stop();
  }

  // ---- phase 2: the broker process
  const proc = await startProcessTarget({ rssLimitBytes: opts.rssLimitBytes });
  let p2: PhaseReport;
  try {
    const fuzzer = new Fuzzer({ target: proc, seed: opts.seed ^ 0x5eed, fresh: anyFrameArb(proc.ctx), freshRatio: 0.5, onFinding: onFinding('process') });
    const deadline = Date.now() + opts.process.ms;
    let n = 0;
    const replay = [...regression.map((s) => s.frame), ...golden.map((s) => s.frame), ...corpus];
    for (const frame of replay) {
      if (Date.now() > deadline || fuzzer.stats.execs >= opts.process.maxExecs || proc.dead()) break;
      await fuzzer.run(frame, true);
      if (++n % opts.batchSize === 0) for (const f of await proc.between()) fuzzer.record(frame, f);
    }
    log(`process: ${fuzzer.stats.execs} inputs replayed`);
    await fuzzer.loop({ deadline, maxExecs: opts.process.maxExecs, batchSize: opts.batchSize, between: () => proc.between() });
    for (const f of await proc.finish()) fuzzer.record(Buffer.alloc(0), f);
    p2 = { ...phaseReport(fuzzer.stats, fuzzer, null), maxRssMiB: Math.round(proc.maxRssBytes / 2 ** 20) };
  } finally {
    if (!proc.broker.hasExited()) await proc.broker.stop().catch(() => null);
  }

  return {
    inProcess: p1,
    process: p2,
    apis,
    versions,
    seeds: { golden: golden.length, encoder: encoderCount, regression: regression.length, savedCorpus: saved.length },
    findings,
  };
}

/** A human summary of a report (the figures docs/testing.md quotes). */
export function formatReport(r: CampaignReport): string {
  const lines = [
    `APIs advertised: ${r.apis} (${r.versions} API versions); seeds: ${r.seeds.golden} client frames, ${r.seeds.encoder} encoder frames, ${r.seeds.regression} regression inputs, ${r.seeds.savedCorpus} saved corpus entries`,
    `in-process (coverage-guided): ${r.inProcess.execs} executions in ${r.inProcess.seconds} s, corpus ${r.inProcess.corpus}, ${r.inProcess.blocks} blocks / ${r.inProcess.features} features covered, outcomes ${JSON.stringify(r.inProcess.outcomes)}, timeouts by api ${JSON.stringify(r.inProcess.timeoutsByApi)}`,
    `broker process: ${r.process.execs} executions in ${r.process.seconds} s, outcomes ${JSON.stringify(r.process.outcomes)}, timeouts by api ${JSON.stringify(r.process.timeoutsByApi)}, max RSS ${r.process.maxRssMiB} MiB`,
    `findings: ${r.findings.length}`,
  ];
  for (const f of r.findings) {
    lines.push(`  [${f.phase}] x${f.count} ${f.signature}${f.file ? ` (input: ${f.file})` : ''}`);
    lines.push(`      ${f.detail.split('\n').slice(0, 8).join('\n      ')}`);
  }
  return lines.join('\n');
}
