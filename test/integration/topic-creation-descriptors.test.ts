/**
 * Issue 13, point 2: a topic whose logs cannot all be created (the process is out of file descriptors) is not a
 * half-created topic. The client gets the real error (REQUEST_TIMED_OUT, which clients retry) instead of a
 * success; the topic exists from then on (describe shows it, a second create says it already exists), the
 * partition without a log is reported (Metadata: LEADER_NOT_AVAILABLE, one log line), nothing goes offline, and
 * the broker creates the missing log as soon as it can, after which kcat produces to it and reads it back.
 *
 * The broker runs in this process so that EMFILE can be injected into the opens of one partition's files
 * (node:fs, as test/unit/storage-faults.test.ts does); the clients are the kfk CLI and kcat over TCP.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import type { Logger } from '../../src/server/logger.js';
import { kcat, kfk, makeTempDir, registerCleanup, waitFor } from '../helpers/index.js';

registerCleanup();

const lines: { level: string; msg: string }[] = [];
const at = (level: string) => (msg: string) => void lines.push({ level, msg });
const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;

let running: RunningBroker;
let dataDir: string;

beforeAll(async () => {
  dataDir = makeTempDir('kfk-creation-emfile');
  running = await launchBroker(brokerConfigFromProperties({ listeners: 'PLAINTEXT://127.0.0.1:0', 'log.dirs': dataDir }), { logger });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await running?.stop();
});

interface KcatMeta {
  topics: { topic: string; error?: string; partitions: { partition: number; leader: number; error?: string }[] }[];
}

async function metadataOf(topic: string): Promise<KcatMeta['topics'][number] | undefined> {
  const res = await kcat(['-L', '-b', running.bootstrap, '-t', topic, '-J'], { timeoutMs: 30_000 });
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout) as KcatMeta).topics.find((t) => t.topic === topic);
}

describe('a topic created while the broker is out of file descriptors', () => {
  it('answers the real error, exists from then on, and gets its missing log once descriptors are free', { timeout: 120_000 }, async () => {
    // every open of a file of starved-2 fails with EMFILE (the process's table is full) until released
    let starved = true;
    const realOpenSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      if (starved && String(file).includes('/starved-2/')) throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE', syscall: 'open' });
      return (realOpenSync as (...a: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);

    const created = await kfk(['topics', '--create', '--topic', 'starved', '--partitions', '4', '--bootstrap-server', running.bootstrap]);
    expect(created.code).toBe(1);
    expect(created.stderr).toMatch(/Topic 'starved' was created, but the logs of 1 of its partitions could not be created on broker 0 yet \(Out of file descriptors/);

    // it exists: describe shows it, a second create says so; the partition without a log has no leader to talk to
    const described = await kfk(['topics', '--describe', '--topic', 'starved', '--bootstrap-server', running.bootstrap]);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toMatch(/Topic: starved\tPartitionCount: 4/);
    const again = await kfk(['topics', '--create', '--topic', 'starved', '--partitions', '4', '--bootstrap-server', running.bootstrap]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Topic 'starved' already exists/);
    const meta = (await metadataOf('starved'))!;
    expect(meta.partitions.find((p) => p.partition === 2)!.error).toMatch(/Leader not available/i);
    expect(meta.partitions.filter((p) => p.partition !== 2).every((p) => p.error === undefined && p.leader === 0)).toBe(true);
    expect(fs.existsSync(`${dataDir}/starved-2`)).toBe(false); // nothing half made
    expect(lines.some((l) => l.level === 'warn' && /cannot serve 1 partition\(s\) assigned here yet \(starved-2\), trying again in 1 s: Out of file descriptors/.test(l.msg))).toBe(true);
    expect(lines.filter((l) => l.level === 'error' && /offline|Shutdown broker/.test(l.msg))).toEqual([]);

    // the other partitions, and other topics, are served meanwhile
    const other = await kcat(['-P', '-b', running.bootstrap, '-t', 'starved', '-p', '1'], { input: 'while-starved\n' });
    expect(other.code, other.stderr).toBe(0);

    // descriptors come back: a later reconciliation creates the log, and the partition is served
    starved = false;
    await waitFor(async () => (await metadataOf('starved'))!.partitions.find((p) => p.partition === 2)!.error === undefined, {
      timeoutMs: 60_000,
      message: 'starved-2 to get its log (the reconciliation retries)',
    });
    const produced = await kcat(['-P', '-b', running.bootstrap, '-t', 'starved', '-p', '2'], { input: 'late\n' });
    expect(produced.code, produced.stderr).toBe(0);
    const read = await kcat(['-C', '-b', running.bootstrap, '-t', 'starved', '-p', '2', '-o', 'beginning', '-e', '-q']);
    expect(read.stdout.trim()).toBe('late');
    const read1 = await kcat(['-C', '-b', running.bootstrap, '-t', 'starved', '-p', '1', '-o', 'beginning', '-e', '-q']);
    expect(read1.stdout.trim()).toBe('while-starved');
  });
});
