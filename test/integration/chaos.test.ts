/**
 * The fault-injection checker (scripts/chaos.mjs), run short: three broker processes on ZooKeeper, 30 s of random
 * kill -9, SIGSTOP/SIGCONT (some past the session timeout) and clean restarts of one broker at a time, under an
 * idempotent acks=all producer and a consumer group (confluent-kafka); then every check of scripts/chaos/checks.mjs
 * must hold. The seed is random and printed, so that a failure can be replayed (`--seed N`, docs/operations.md);
 * longer runs are the script's own business.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findZooKeeper, ZOOKEEPER_NOT_INSTALLED } from '../../src/registry/zookeeper-server.js';
import { makeTempDir, registerCleanup, REPO_ROOT, run, skipUnless } from '../helpers/index.js';

registerCleanup();

interface Report {
  ok: boolean;
  seed: number;
  faults: { kill: number; pause: number; zombie: number; restart: number; unsettled: number };
  producer: { produced: number; acked: number };
  stats: { acknowledged: number; inLog: number; groupDeliveries: number; replicasCompared: number };
  checks: Array<{ name: string; ok: boolean; violations: number; examples: string[] }>;
  files: string;
}

describe('the chaos checker', skipUnless(findZooKeeper() !== null, ZOOKEEPER_NOT_INSTALLED), () => {
  it('finds every guarantee kept through 30 s of random broker faults', async () => {
    const out = makeTempDir('kfk-chaos-');
    const res = await run(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chaos.mjs'), '--duration', '30', '--rate', '300', '--out', out], { timeoutMs: 240_000 });
    const last = res.stdout.trim().split('\n').pop() ?? '';
    expect(last.startsWith('{'), `no report; stderr:\n${res.stderr}`).toBe(true);
    const report = JSON.parse(last) as Report;
    const failedChecks = report.checks.filter((c) => !c.ok);
    expect(failedChecks, `seed ${report.seed}, files in ${report.files}\n${res.stderr}`).toEqual([]);
    expect(res.code, res.stderr).toBe(0);
    expect(report.ok).toBe(true);
    // Not a vacuous run: faults happened, the cluster healed after each, records flowed and were all checked.
    expect(report.faults.kill + report.faults.pause + report.faults.restart).toBeGreaterThanOrEqual(3);
    expect(report.faults.unsettled).toBe(0);
    expect(report.producer.acked).toBe(report.producer.produced);
    expect(report.stats.acknowledged).toBeGreaterThan(1000);
    expect(report.stats.inLog).toBeGreaterThanOrEqual(report.stats.acknowledged);
    expect(report.stats.groupDeliveries).toBeGreaterThanOrEqual(report.stats.acknowledged);
    expect(report.stats.replicasCompared).toBe(3);
  }, 240_000);
});
