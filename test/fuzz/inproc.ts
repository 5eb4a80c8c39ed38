/**
 * The in-process target: a real broker (launchBroker, embedded registry, a temp dir) in the
 * fuzzer's own process, driven over loopback TCP so every input takes the real path (SocketServer,
 * Connection, FrameDecoder, generated codecs, handler, response encoder). Being in-process lets
 * V8's coverage guide the fuzzer and turns every failure the broker cannot contain into a finding:
 * an uncaught exception or unhandled rejection (which would stop a broker process), and any line
 * the broker logs at ERROR (a handler that threw instead of answering with an error code).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { createLogger } from '../../src/server/logger.js';
import { FUZZ_BROKER_OVERRIDES } from './broker-settings.js';
import { signatureOf, type Finding, type Target, type TargetResult } from './engine.js';
import { apiVersionsMax, ensureTargetTopic, healthCheck, learnContext, prepareBroker } from './setup.js';
import type { FuzzContext } from './request-gen.js';
import { execFrame } from './wire.js';

export interface InProcessTarget extends Target {
  readonly port: number;
  readonly ctx: FuzzContext;
  readonly dataDir: string;
  /** Health check between batches: a well-behaved client is answered. */
  between(): Promise<Finding[]>;
  /** Every line the broker logged (for reports), most recent last. */
  logTail(): string[];
  stop(): Promise<void>;
}

/**
 * @param opts.rssLimitBytes bound on the whole fuzzing process's RSS (broker, fuzzer and corpus together),
 *   checked between batches.
 */
export async function startInProcessTarget(opts: { timeoutMs?: number; keepDir?: boolean; rssLimitBytes?: number } = {}): Promise<InProcessTarget> {
  const timeoutMs = opts.timeoutMs ?? 500;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfk-fuzz-'));
  const pending: Finding[] = [];
  const tail: string[] = [];
  const logger = createLogger('info', (line) => {
    tail.push(line.trimEnd());
    if (tail.length > 200) tail.shift();
    const m = /^\[[^\]]+\] ERROR ([\s\S]*)$/.exec(line);
    if (m) pending.push(errorFinding('internal-error', m[1]!));
  });
  const onUncaught = (err: unknown): void => {
    pending.push(errorFinding('crash', `uncaught exception: ${(err as Error)?.stack ?? String(err)}`));
  };
  const onRejection = (err: unknown): void => {
    pending.push(errorFinding('crash', `unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);

  let running: RunningBroker;
  try {
    running = await launchBroker(
      brokerConfigFromProperties({
        'broker.id': '0',
        listeners: 'PLAINTEXT://127.0.0.1:0',
        'log.dirs': dataDir,
        ...FUZZ_BROKER_OVERRIDES,
      }),
      { logger },
    );
    await prepareBroker(running.port);
  } catch (err) {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const ctx = await learnContext(running.port);
  pending.length = 0; // start-up is not the fuzzer's doing
  const maxApiVersions = apiVersionsMax(ctx);

  return {
    port: running.port,
    ctx,
    dataDir,
    async exec(frame: Buffer): Promise<TargetResult> {
      const res = await execFrame(running.port, frame, { timeoutMs, apiVersionsMax: maxApiVersions });
      const findings = pending.splice(0);
      for (const v of res.violations) findings.push({ kind: 'violation', signature: signatureOf('violation', v), detail: v });
      return { ...res, findings };
    },
    async between(): Promise<Finding[]> {
      const problem = await healthCheck(running.port);
      if (!problem) await ensureTargetTopic(running.port).catch(() => undefined);
      const findings = pending.splice(0);
      const rss = process.memoryUsage().rss;
      if (opts.rssLimitBytes && rss > opts.rssLimitBytes) {
        const detail = `fuzzing process RSS ${Math.round(rss / 2 ** 20)} MiB is over the bound of ${Math.round(opts.rssLimitBytes / 2 ** 20)} MiB`;
        findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', 'in-process RSS over the bound'), detail });
      }
      if (problem) findings.push({ kind: 'unhealthy', signature: signatureOf('unhealthy', problem), detail: problem });
      return findings;
    },
    logTail: () => [...tail],
    async stop(): Promise<void> {
      try {
        await running.stop();
      } finally {
        process.off('uncaughtException', onUncaught);
        process.off('unhandledRejection', onRejection);
        if (!opts.keepDir) fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** A finding from a log line or an error: signature from its first line and first kfk stack frame. */
export function errorFinding(kind: Finding['kind'], text: string): Finding {
  const lines = text.split('\n');
  const frame = lines.find((l) => /\bat\b.*\/src\//.test(l))?.trim().replace(/:\d+:\d+\)?$/, '') ?? '';
  return { kind, signature: signatureOf(kind, `${lines[0]} ${frame}`), detail: text.slice(0, 4000) };
}
