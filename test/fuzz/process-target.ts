/**
 * The process target: the real `node bin/kfk.js server start` (test/helpers startBrokerProcess),
 * driven over raw sockets. For every input the broker answers (in order, right correlation ids,
 * bodies that decode) or closes that one connection; after every batch the process is alive, a
 * well-behaved client is answered both on a connection held open since the start and on a new one,
 * and the broker's RSS (/proc/<pid>/status) is under a bound. At the end the broker's stderr has
 * no unhandled-rejection / uncaught-exception line, the canary records written before the run read
 * back with kcat, and the broker stops cleanly (exit code 0).
 */
import fs from 'node:fs';
import type net from 'node:net';
import { kcat } from '../helpers/run.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { FUZZ_BROKER_OVERRIDES } from './broker-settings.js';
import { signatureOf, type Finding, type Target, type TargetResult } from './engine.js';
import { errorFinding } from './inproc.js';
import type { FuzzContext } from './request-gen.js';
import { apiVersionsMax, call, CANARY_TOPIC, CANARY_VALUES, ensureTargetTopic, healthCheck, learnContext, prepareBroker } from './setup.js';
import { connect, execFrame } from './wire.js';

export interface ProcessTarget extends Target {
  readonly broker: BrokerProcess;
  readonly ctx: FuzzContext;
  /** Highest RSS seen between batches, in bytes. */
  readonly maxRssBytes: number;
  dead(): boolean;
  between(): Promise<Finding[]>;
  /** The end-of-run checks, then a clean stop. */
  finish(): Promise<Finding[]>;
}

/** Resident set size of a process, from /proc (Linux). */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null; // the process is gone; the liveness check reports that
  }
}

/** Lines of the broker's stderr that mean the process lost control of an error. */
export const FATAL_LINE = /unhandled ?rejection|uncaught ?exception|FATAL|Segmentation fault|heap out of memory/i;

export async function startProcessTarget(opts: { rssLimitBytes: number; timeoutMs?: number }): Promise<ProcessTarget> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const broker = await startBrokerProcess({ overrides: FUZZ_BROKER_OVERRIDES });
  await prepareBroker(broker.port);
  const ctx = await learnContext(broker.port);
  const maxApiVersions = apiVersionsMax(ctx);
  // A client that stays connected through the whole run, as a real application's would.
  let steady: net.Socket | null = await connect(broker.port);
  let maxRss = 0;
  let died = false;
  /** The last inputs sent: the one that killed the broker may not be the one during which it was seen dead. */
  const recent: Buffer[] = [];
  const deathFinding = (): Finding => {
    const why = `broker process exited: ${broker.stderr().split('\n').filter(Boolean).slice(-5).join(' | ')}`;
    return { kind: 'crash', signature: signatureOf('crash', 'broker process exited'), detail: why, context: [...recent] };
  };

  return {
    broker,
    ctx,
    get maxRssBytes() {
      return maxRss;
    },
    dead: () => died,
    async exec(frame: Buffer): Promise<TargetResult> {
      recent.push(frame);
      if (recent.length > 8) recent.shift();
      const res = await execFrame(broker.port, frame, { timeoutMs, apiVersionsMax: maxApiVersions });
      const findings: Finding[] = res.violations.map((v) => ({ kind: 'violation', signature: signatureOf('violation', v), detail: v }));
      if (!died && broker.hasExited()) {
        died = true;
        findings.push(deathFinding());
      }
      return { ...res, findings };
    },
    async between(): Promise<Finding[]> {
      const findings: Finding[] = [];
      if (broker.hasExited()) {
        if (!died) findings.push(deathFinding());
        died = true;
        return findings;
      }
      const problem = await healthCheck(broker.port);
      if (problem) findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', problem), detail: problem });
      else await ensureTargetTopic(broker.port).catch(() => undefined);
      try {
        if (!steady) throw new Error('steady connection already lost');
        await call(steady, 18, 0, {});
      } catch (err) {
        const detail = `the connection held open since the start failed: ${(err as Error).message}`;
        findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', detail), detail });
        steady?.destroy();
        steady = await connect(broker.port).catch(() => null);
      }
      const rss = broker.pid ? rssBytes(broker.pid) : null;
      if (rss !== null) {
        maxRss = Math.max(maxRss, rss);
        if (rss > opts.rssLimitBytes) {
          const detail = `broker RSS ${Math.round(rss / 2 ** 20)} MiB is over the bound of ${Math.round(opts.rssLimitBytes / 2 ** 20)} MiB`;
          findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', 'broker RSS over the bound'), detail });
        }
      }
      return findings;
    },
    async finish(): Promise<Finding[]> {
      const findings: Finding[] = [];
      steady?.destroy();
      for (const line of broker.stderr().split('\n')) {
        if (FATAL_LINE.test(line)) findings.push(errorFinding('crash', line));
      }
      if (broker.hasExited()) {
        if (!died) findings.push(deathFinding());
        return findings;
      }
      const read = await kcat(['-C', '-b', broker.bootstrap, '-t', CANARY_TOPIC, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%s\n'], { timeoutMs: 30_000 });
      const values = read.stdout.split('\n').filter(Boolean);
      if (read.code !== 0 || values.join(',') !== CANARY_VALUES.join(',')) {
        const detail = `kcat read [${values.join(',')}] from ${CANARY_TOPIC} (exit ${read.code}): ${read.stderr.slice(0, 500)}`;
        findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', 'canary topic not readable'), detail });
      }
      // stop() rejects (after a SIGKILL) when SIGTERM does not stop the broker in time.
      const code = await broker.stop().catch((err: Error) => err);
      if (code !== 0) {
        const why = code instanceof Error ? code.message.split('\n')[0] : `exit code ${code}`;
        const detail = `broker did not stop cleanly on SIGTERM (${why}): ${broker.stderr().split('\n').slice(-5).join(' | ')}`;
        findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', 'unclean stop'), detail });
      }
      return findings;
    },
  };
}
