/**
 * The rest of Kafka's shell tools against one broker process, each output checked against the shape of Kafka's
 * tool and against what a third-party client (kcat) sees: get-offsets (GetOffsetShell), delete-records,
 * log-dirs (DescribeLogDirs, API 35), broker-api-versions, verifiable-producer and verifiable-consumer (the JSON
 * lines Kafka's system tests read), console-consumer's deserializers and formatters; and the CLI for people:
 * `kfk cluster`, colour on a terminal only (a pseudo-terminal through util-linux `script`), `kfk completion`.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, kcat, kfk, makeTempDir, pythonCode, registerCleanup, run, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';

registerCleanup();

let broker: BrokerProcess;
let B: string;
const TOPIC = 'tools';

beforeAll(async () => {
  broker = await startBrokerProcess({ overrides: { 'group.initial.rebalance.delay.ms': '0', 'offsets.topic.num.partitions': '2' } });
  B = broker.bootstrap;
  await ok(['topics', '--bootstrap-server', B, '--create', '--topic', TOPIC, '--partitions', '3']);
  // 10 records to each partition, through kcat
  for (let p = 0; p < 3; p++) {
    const r = await kcat(['-b', B, '-t', TOPIC, '-p', String(p), '-P'], { input: Array.from({ length: 10 }, (_, i) => `p${p}-${i}\n`).join('') });
    expect(r.code, r.stderr).toBe(0);
  }
});

async function ok(args: string[], input?: string): Promise<string> {
  const res = await kfk(args, { input, timeoutMs: 30_000 });
  expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
  return res.stdout;
}

/** kcat's view of a partition's offsets: [low, high] watermarks (-Q with -2 and -1). */
async function kcatOffsets(partition: number): Promise<[number, number]> {
  const q = async (t: number): Promise<number> => {
    const r = await kcat(['-b', B, '-Q', '-t', `${TOPIC}:${partition}:${t}`]);
    expect(r.code, r.stderr).toBe(0);
    const m = /\] offset (-?\d+)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    return Number(m![1]);
  };
  return [await q(-2), await q(-1)];
}

it('get-offsets prints topic:partition:offset lines, sorted, for latest, earliest, max-timestamp, a timestamp and partition filters', async () => {
  const latest = await ok(['get-offsets', '--bootstrap-server', B, '--topic', TOPIC]);
  expect(latest).toBe(`${TOPIC}:0:10\n${TOPIC}:1:10\n${TOPIC}:2:10\n`);
  for (let p = 0; p < 3; p++) expect((await kcatOffsets(p))[1]).toBe(10);
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', TOPIC, '--time', '-2', '--partitions', '0,2'])).toBe(`${TOPIC}:0:0\n${TOPIC}:2:0\n`);
  // Kafka's ranges are end-exclusive: 1-3 is partitions 1 and 2
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic-partitions', `${TOPIC}:1-3`, '--time', 'earliest'])).toBe(`${TOPIC}:1:0\n${TOPIC}:2:0\n`);
  // a timestamp after every record: no offset (-1); one before them: the first offset
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', TOPIC, '--partitions', '0', '--time', String(Date.now() + 3_600_000)])).toBe(`${TOPIC}:0:-1\n`);
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', TOPIC, '--partitions', '0', '--time', '1000'])).toBe(`${TOPIC}:0:0\n`);
  // -3 / max-timestamp (ListOffsets v7, KIP-734): the first record with the largest timestamp, wherever it is in the
  // log; a topic without records has none (-1). Records sent one batch each by kafka-python with set timestamps.
  const stamped = 'tools-max-ts';
  expect((await kfk(['topics', '--bootstrap-server', B, '--create', '--topic', stamped, '--partitions', '1'])).code).toBe(0);
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', stamped, '--time', '-3'])).toBe(`${stamped}:0:-1\n`);
  const sent = await pythonCode(
    `import sys, json
from kafka import KafkaProducer
a = json.loads(sys.argv[1])
p = KafkaProducer(bootstrap_servers=a['bootstrap'], linger_ms=0)
for ts in [5000, 9000, 7000, 9000, 1000]:
    p.send(a['topic'], value=str(ts).encode(), partition=0, timestamp_ms=ts).get(timeout=30)
p.close()`,
    [JSON.stringify({ bootstrap: B, topic: stamped })],
    { timeoutMs: 40_000 },
  );
  expect(sent.code, sent.stderr).toBe(0);
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', stamped, '--time', '-3'])).toBe(`${stamped}:0:1\n`);
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', stamped, '--time', 'max-timestamp'])).toBe(`${stamped}:0:1\n`);
  // every topic by default (internal ones too), a regex otherwise
  const all = await ok(['get-offsets', '--bootstrap-server', B]);
  expect(all.split('\n').filter((l) => l.startsWith(`${TOPIC}:`))).toHaveLength(3);
  expect(await ok(['get-offsets', '--bootstrap-server', B, '--topic', 'to+ls'])).toBe(latest);
  const bad = await kfk(['get-offsets', '--bootstrap-server', B, '--time', 'yesterday']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^Error: Malformed time argument yesterday/);
});

it('delete-records moves the log start offsets in the JSON file and reports each partition', async () => {
  const dir = makeTempDir('kfk-delete-records');
  const file = join(dir, 'offsets.json');
  writeFileSync(file, JSON.stringify({ partitions: [{ topic: TOPIC, partition: 0, offset: 4 }, { topic: TOPIC, partition: 1, offset: -1 }], version: 1 }));
  const out = await ok(['delete-records', '--bootstrap-server', B, '--offset-json-file', file]);
  expect(out).toBe(
    `Executing records delete operation\nRecords delete operation completed:\npartition: ${TOPIC}-0\tlow_watermark: 4\npartition: ${TOPIC}-1\tlow_watermark: 10\n`,
  );
  expect(await kcatOffsets(0)).toEqual([4, 10]);
  expect(await kcatOffsets(1)).toEqual([10, 10]);
  const read = await kcat(['-b', B, '-t', TOPIC, '-p', '0', '-C', '-o', 'beginning', '-e', '-q']);
  expect(read.stdout.trim().split('\n')).toEqual(Array.from({ length: 6 }, (_, i) => `p0-${i + 4}`));

  // past the high watermark: that partition fails, the command says so and exits 1
  writeFileSync(file, JSON.stringify({ partitions: [{ topic: TOPIC, partition: 2, offset: 99 }], version: 1 }));
  const bad = await kfk(['delete-records', '--bootstrap-server', B, '--offset-json-file', file]);
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(new RegExp(`^partition: ${TOPIC}-2\\terror: .*OFFSET_OUT_OF_RANGE`, 'm'));
  expect(await kcatOffsets(2)).toEqual([0, 10]);
  writeFileSync(file, '{"partitions":[{"topic":"x"}]}');
  const malformed = await kfk(['delete-records', '--bootstrap-server', B, '--offset-json-file', file]);
  expect(malformed.code).toBe(1);
  expect(malformed.stderr).toMatch(/^Error: Entry 0 of "partitions" must have/);
});

it('log-dirs describes the broker\'s log dir with each replica\'s size, as Kafka\'s JSON', async () => {
  const out = await ok(['log-dirs', '--bootstrap-server', B, '--describe', '--topic-list', TOPIC]);
  const lines = out.trimEnd().split('\n');
  expect(lines[0]).toBe('Querying brokers for log directories information');
  expect(lines[1]).toBe('Received log directory information from brokers 0');
  const doc = JSON.parse(lines[2]!) as { version: number; brokers: { broker: number; logDirs: { logDir: string; error: null; partitions: { partition: string; size: number; offsetLag: number; isFuture: boolean }[] }[] }[] };
  expect(doc.version).toBe(1);
  expect(doc.brokers.map((b) => b.broker)).toEqual([0]);
  const [logDir] = doc.brokers[0]!.logDirs;
  expect(logDir!.logDir).toBe(resolve(broker.dataDir));
  expect(logDir!.error).toBeNull();
  expect(logDir!.partitions.map((p) => p.partition)).toEqual([`${TOPIC}-0`, `${TOPIC}-1`, `${TOPIC}-2`]);
  for (const p of logDir!.partitions) {
    expect(p.offsetLag).toBe(0);
    expect(p.isFuture).toBe(false);
  }
  // partition 1's records were all deleted (its segments went with them); partition 2 still holds its 10
  expect(logDir!.partitions[2]!.size).toBeGreaterThan(10 * 'p2-0'.length);
  const missing = await kfk(['log-dirs', '--bootstrap-server', B, '--describe', '--broker-list', '7']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/broker 7 is not in the cluster/);
});

it('broker-api-versions lists every API with the broker\'s range and the version kfk would use', async () => {
  const out = await ok(['broker-api-versions', '--bootstrap-server', B]);
  const lines = out.trimEnd().split('\n');
  expect(lines[0]).toBe(`127.0.0.1:${broker.port} (id: 0 rack: null) -> (`);
  expect(lines[lines.length - 1]).toBe(')');
  expect(lines).toContain('\tProduce(0): 0 to 11 [usable: 11],');
  expect(lines).toContain('\tDescribeLogDirs(35): 0 to 4 [usable: 4],');
  expect(lines).toContain('\tLeaderAndIsr(4): UNSUPPORTED,');
  for (const l of lines.slice(1, -1)) expect(l).toMatch(/^\t\w+\(\d+\): (UNSUPPORTED|\d+( to \d+)?( \[usable: \d+\]| \[unusable: node too (old|new)\])?),?$/);
});

it('verifiable-producer and verifiable-consumer report every record as JSON events', async () => {
  const topic = 'verifiable';
  await ok(['topics', '--bootstrap-server', B, '--create', '--topic', topic, '--partitions', '2']);
  const produced = await ok(['verifiable-producer', '--bootstrap-server', B, '--topic', topic, '--max-messages', '40', '--repeating-keys', '4', '--value-prefix', 'v']);
  const pEvents = produced.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(pEvents[0]!.name).toBe('startup_complete');
  const successes = pEvents.filter((e) => e.name === 'producer_send_success');
  expect(successes).toHaveLength(40);
  expect(new Set(successes.map((e) => e.value))).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `v.${i}`)));
  // every (partition, offset) once, offsets dense per partition
  for (const p of [0, 1]) {
    const offsets = successes.filter((e) => e.partition === p).map((e) => e.offset as number).sort((a, b) => a - b);
    expect(offsets).toEqual(offsets.map((_, i) => i));
  }
  expect(pEvents.at(-2)!.name).toBe('shutdown_complete');
  expect(pEvents.at(-1)).toMatchObject({ name: 'tool_data', sent: 40, acked: 40, target_throughput: -1 });
  const seen = await kcat(['-b', B, '-t', topic, '-C', '-o', 'beginning', '-e', '-q', '-f', '%k=%s\n']);
  expect(seen.stdout.trim().split('\n').sort()).toEqual(successes.map((e) => `${e.key as string}=${e.value as string}`).sort());

  const consumed = await ok(['verifiable-consumer', '--bootstrap-server', B, '--topic', topic, '--group-id', 'vgroup', '--max-messages', '40', '--session-timeout', '10000']);
  const cEvents = consumed.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(cEvents[0]!.name).toBe('startup_complete');
  expect(cEvents.find((e) => e.name === 'partitions_assigned')!.partitions).toEqual([
    { topic, partition: 0 },
    { topic, partition: 1 },
  ]);
  const batches = cEvents.filter((e) => e.name === 'records_consumed');
  expect(batches.reduce((a, e) => a + (e.count as number), 0)).toBe(40);
  const commits = cEvents.filter((e) => e.name === 'offsets_committed');
  expect(commits.length).toBe(batches.length);
  expect(commits.every((c) => c.success === true)).toBe(true);
  expect(cEvents.at(-1)!.name).toBe('shutdown_complete');
  // the commits are the group's offsets: no lag left
  const describe = await ok(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'vgroup']);
  const lags = describe.split('\n').filter((l) => l.startsWith('vgroup ')).map((l) => l.trim().split(/\s+/)[5]);
  expect(lags).toEqual(['0', '0']);
});

it("console-consumer applies Kafka's deserializers and formatters, and --skip-message-on-error skips what they cannot read", async () => {
  const topic = 'longs';
  await ok(['topics', '--bootstrap-server', B, '--create', '--topic', topic, '--partitions', '1']);
  // kafka-python writes 8-byte big-endian longs (Kafka's LongSerializer), and one 3-byte value in the middle
  const code = `
import struct, sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1])
for v in [1, -2, 1 << 40]:
    p.send(sys.argv[2], key=struct.pack('>i', v & 0x7fffffff), value=struct.pack('>q', v))
p.send(sys.argv[2], value=b'bad')
p.send(sys.argv[2], value=struct.pack('>q', 7))
p.flush()
`;
  const produced = await pythonCode(code, [B, topic], { timeoutMs: 40_000 });
  expect(produced.code, produced.stderr).toBe(0);
  const consume = (...extra: string[]) =>
    kfk(['console-consumer', '--bootstrap-server', B, '--topic', topic, '--from-beginning', '--max-messages', '5', '--timeout-ms', '5000', ...extra]);

  const skipped = await consume('--value-deserializer', 'org.apache.kafka.common.serialization.LongDeserializer', '--skip-message-on-error');
  expect(skipped.code, skipped.stderr).toBe(0);
  expect(skipped.stdout).toBe(`1\n-2\n${2 ** 40}\n7\n`);
  expect(skipped.stderr).toContain('Error processing message, skipping this message: SerializationException: Size of data received by LongDeserializer is not 8');

  const stopped = await consume('--value-deserializer', 'org.apache.kafka.common.serialization.LongDeserializer');
  expect(stopped.code).toBe(1);
  expect(stopped.stdout).toBe(`1\n-2\n${2 ** 40}\n`);
  expect(stopped.stderr).toMatch(/^Error: Error processing message, terminating consumer process: SerializationException/m);

  // formatter properties: key.deserializer as a --property, print.key and key.separator
  const keyed = await consume('--property', 'print.key=true', '--property', 'key.separator=|', '--property', 'key.deserializer=org.apache.kafka.common.serialization.IntegerDeserializer', '--property', 'value.deserializer=org.apache.kafka.common.serialization.LongDeserializer', '--skip-message-on-error');
  expect(keyed.stdout.split('\n').slice(0, 2)).toEqual(['1|1', `${(-2 & 0x7fffffff)}|-2`]);

  const noop = await consume('--formatter', 'kafka.tools.NoOpMessageFormatter');
  expect(noop.code, noop.stderr).toBe(0);
  expect(noop.stdout).toBe('');
  expect(noop.stderr).toContain('Processed a total of 5 messages');
});

/** Runs kfk under a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function kfkOnTty(args: string[], env: Record<string, string | undefined> = {}) {
  const cmd = ['node', 'bin/kfk.js', ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return run('script', ['-qec', cmd, '/dev/null'], { env: { NO_COLOR: undefined, TERM: 'xterm', ...env }, cwd: REPO_ROOT, timeoutMs: 30_000 });
}

const ESC = '\u001b[';

it('kfk cluster: brokers, topics with partition health and groups with lag; colour only on a terminal', async () => {
  const piped = await ok(['cluster', '--bootstrap-server', B]);
  expect(piped).not.toContain(ESC);
  const lines = piped.split('\n');
  expect(lines[0]).toMatch(/^Cluster id: \S+ {2}Controller: 0 {2}Brokers: 1 {2}Topics: \d+$/);
  expect(lines.find((l) => l.startsWith('BROKER'))!.split(/\s+/)).toEqual(['BROKER', 'HOST', 'PORT', 'RACK', 'LEADERS', 'CONTROLLER']);
  expect(lines.find((l) => l.startsWith('0 '))!.split(/\s+/)).toEqual(['0', '127.0.0.1', String(broker.port), '-', expect.stringMatching(/^\d+$/), 'yes']);
  const toolsRow = lines.find((l) => l.startsWith(`${TOPIC} `))!.split(/\s+/);
  expect(toolsRow).toEqual([TOPIC, '3', '1', '0', '0']);
  // vgroup consumed everything (the verifiable-consumer test): no lag
  expect(lines.find((l) => l.startsWith('vgroup '))!.split(/\s+/)).toEqual(['vgroup', 'Empty', '0', 'verifiable', '0']);

  const tty = await kfkOnTty(['cluster', '--bootstrap-server', B]);
  expect(tty.code, tty.stdout).toBe(0);
  expect(tty.stdout).toContain(`${ESC}1mBROKER`);
  for (const off of [await kfkOnTty(['cluster', '--bootstrap-server', B], { NO_COLOR: '1' }), await kfkOnTty(['--no-color', 'cluster', '--bootstrap-server', B])]) {
    expect(off.code, off.stdout).toBe(0);
    expect(off.stdout).toContain('BROKER');
    expect(off.stdout).not.toContain(ESC);
  }
});

it('consumer-groups --describe shows lag in colour on a terminal only', async () => {
  // 'tools' partition 2 still has 10 records nobody consumed: a group that committed 0 there lags 10
  const c = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', TOPIC, '--partition', '2', '--offset', '0', '--max-messages', '1']);
  expect(c.code, c.stderr).toBe(0);
  const reset = await kfk(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'laggy', '--topic', `${TOPIC}:2`, '--to-earliest', '--execute']);
  expect(reset.code, reset.stderr).toBe(0);
  const piped = await ok(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'laggy']);
  expect(piped).not.toContain(ESC);
  expect(piped.split('\n').find((l) => l.startsWith('laggy'))!.split(/\s+/).slice(0, 6)).toEqual(['laggy', TOPIC, '2', '0', '10', '10']);
  const tty = await kfkOnTty(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'laggy']);
  expect(tty.stdout).toContain(`${ESC}33m10 `);
});

it('kfk completion bash completes commands, subcommands and flags; zsh and fish scripts name them too', async () => {
  const scriptFile = join(makeTempDir('kfk-completion'), 'kfk.bash');
  writeFileSync(scriptFile, await ok(['completion', 'bash']));
  const complete = async (...words: string[]): Promise<string[]> => {
    const r = await run('bash', ['-c', `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kfk; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', scriptFile]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  expect(await complete('kfk', 'top')).toEqual(['topics']);
  expect(await complete('kfk', 'get-')).toEqual(['get-offsets']);
  expect(await complete('kfk', 'topics', '--boot')).toEqual(['--bootstrap-server']);
  expect(await complete('kfk', 'consumer-groups', '--to-c')).toEqual(['--to-current']);
  expect(await complete('kfk', 'perf', 'pro')).toEqual(['produce']);
  expect(await complete('kfk', 'perf', 'produce', '--num')).toEqual(['--num-records']);
  expect(await complete('kfk', 'server', 'st')).toEqual(['start', 'stop']);
  for (const shell of ['zsh', 'fish']) {
    const s = await ok(['completion', shell]);
    for (const word of ['topics', 'verifiable-consumer', 'bootstrap-server', 'num-records']) expect(s, `${shell}: ${word}`).toContain(word);
  }
  const bad = await kfk(['completion', 'tcsh']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toBe("Error: kfk completion takes a shell: bash, zsh or fish (got 'tcsh')\n");
});
