/**
 * Walkthrough step 4: `kfk server start --brokers 3` runs the three brokers of step 3 in one
 * process (consecutive ports from the listener's, or --ports), `kfk server stop` stops it with a
 * controlled shutdown of each broker, and the cluster's topics survive a restart. Driven with the
 * kfk CLI and kcat.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { consecutiveFreePorts, freePorts, kcat, kfk, kfkSpawn, makeTempDir, registerCleanup, waitFor, type BackgroundProcess } from '../helpers/index.js';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { brokerConfigFor, clusterPorts } from '../../src/broker/launch-cluster.js';

registerCleanup();

const running: BackgroundProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop('SIGTERM', 30_000);
});

async function startCluster(args: string[], env: NodeJS.ProcessEnv): Promise<BackgroundProcess> {
  const proc = kfkSpawn(['server', 'start', ...args], { env });
  running.push(proc);
  await waitFor(() => (proc.stdout().match(/^started \(/gm) ?? []).length === 3 || proc.hasExited(), { timeoutMs: 30_000, message: 'three started lines' });
  if (proc.hasExited()) throw new Error(`kfk server start exited: ${proc.stderr()}`);
  return proc;
}

describe('kfk server start --brokers N', () => {
  it('runs three brokers on consecutive ports; kfk server stop shuts them down with controlled shutdowns; topics survive a restart', async () => {
    const dir = makeTempDir('kfk-brokers3-');
    const env = { TMPDIR: dir };
    const logDirs = join(dir, 'kafka-logs');
    const base = await consecutiveFreePorts(3);
    const args = ['--brokers', '3', '--override', `listeners=PLAINTEXT://127.0.0.1:${base}`, '--override', `log.dirs=${logDirs}`];
    const proc = await startCluster(args, env);
    expect(proc.stdout().split('\n').filter(Boolean)).toEqual([0, 1, 2].map((i) => `started (kfk broker id=${i}, listeners=PLAINTEXT://127.0.0.1:${base + i})`));

    const md = JSON.parse((await kcat(['-b', `127.0.0.1:${base + 2}`, '-L', '-J'])).stdout) as { controllerid: number; brokers: Array<{ id: number; name: string }> };
    expect(md.controllerid).toBe(0);
    expect(md.brokers.map((b) => b.name).sort()).toEqual([0, 1, 2].map((i) => `127.0.0.1:${base + i}`));

    const bootstrap = `127.0.0.1:${base + 1}`;
    const created = await kfk(['topics', '--bootstrap-server', bootstrap, '--create', '--topic', 'testfor3', '--replication-factor', '3', '--partitions', '1']);
    expect(created.code, created.stderr).toBe(0);
    const described = await kfk(['topics', '--bootstrap-server', bootstrap, '--describe', '--topic', 'testfor3']);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toMatch(
      /^Topic: testfor3\tPartitionCount: 1\tReplicationFactor: 3\tConfigs:\n\tTopic: testfor3\tPartition: 0\tLeader: ([012])\tReplicas: ([012]),([012]),([012])\tIsr: ([012]),([012]),([012])\n$/,
    );
    const m = /Replicas: (\S+)\tIsr: (\S+)/.exec(described.stdout)!;
    expect(m[1]!.split(',').sort()).toEqual(['0', '1', '2']);
    expect(m[2]).toBe(m[1]);
    for (const i of [0, 1, 2]) expect(existsSync(join(logDirs, `broker-${i}`))).toBe(true);
    expect(existsSync(join(logDirs, 'kfk-cluster-registry.json'))).toBe(true);

    const stop = await kfk(['server', 'stop'], { env, timeoutMs: 60_000 });
    expect(stop.code, stop.stderr).toBe(0);
    const exited = await proc.exited;
    expect(exited.code).toBe(0);
    expect(proc.stderr()).toMatch(/INFO \[broker [12]\] starting controlled shutdown of broker [12]/);
    expect(proc.stderr()).toContain('shut down cleanly');

    // The same command again: the cluster's registry and logs are still there.
    await startCluster(args, env);
    const again = await kfk(['topics', '--bootstrap-server', `127.0.0.1:${base}`, '--describe', '--topic', 'testfor3']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('\tTopic: testfor3\tPartition: 0\tLeader: ');
  });

  it('takes one port per broker from --ports and refuses what it cannot do', async () => {
    const dir = makeTempDir('kfk-brokers-ports-');
    const ports = await freePorts(3);
    const proc = await startCluster(
      ['--ports', ports.join(','), '--override', 'listeners=PLAINTEXT://127.0.0.1:9', '--override', `log.dirs=${join(dir, 'logs')}`],
      { TMPDIR: dir },
    );
    expect(proc.stdout().split('\n').filter(Boolean)).toEqual(ports.map((p, i) => `started (kfk broker id=${i}, listeners=PLAINTEXT://127.0.0.1:${p})`));
    const bad = await kfk(['server', 'start', '--brokers', '0', '--override', `log.dirs=${join(dir, 'x')}`], { env: { TMPDIR: dir } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--brokers needs a positive integer');
    const mismatch = await kfk(['server', 'start', '--brokers', '3', '--ports', '9100,9101', '--override', `log.dirs=${join(dir, 'y')}`], { env: { TMPDIR: dir } });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain('--ports lists 2 port(s) for --brokers 3');
  });

  it('derives each broker: its id, its port, its data under <log.dirs>/broker-<id>, advertised with the listener host', () => {
    const base = brokerConfigFromProperties({ listeners: 'PLAINTEXT://myhost:9092', 'log.dirs': '/data/a,/data/b' });
    expect(clusterPorts(base, 3)).toEqual([9092, 9093, 9094]);
    expect(clusterPorts(base, 2, [9092, 9095])).toEqual([9092, 9095]);
    const b2 = brokerConfigFor(base, 2, 9094);
    expect(b2.brokerId).toBe(2);
    expect(b2.listeners).toEqual([{ ...base.listeners[0], port: 9094 }]);
    expect(b2.advertisedListeners.map((l) => `${l.host}:${l.port}`)).toEqual(['myhost:9094']);
    expect(b2.logDirs).toEqual(['/data/a/broker-2', '/data/b/broker-2']);
    const zero = brokerConfigFromProperties({ listeners: 'PLAINTEXT://127.0.0.1:0' });
    expect(clusterPorts(zero, 3)).toEqual([0, 0, 0]);
    const two = brokerConfigFromProperties({ listeners: 'PLAINTEXT://:9092,INTERNAL://:9093', 'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT' });
    expect(() => brokerConfigFor(two, 0, 9092)).toThrow(/exactly one listener/);
  });
});
