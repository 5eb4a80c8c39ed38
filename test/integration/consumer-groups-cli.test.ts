/**
 * Consumer groups through the CLI against a broker process: `console-consumer --group` consuming and a
 * second run resuming after the committed offsets; `consumer-groups --describe` (Kafka's columns, zero lag
 * after consumption, the right lag before it, `-` for partitions without a member), `--members`, `--state`;
 * `--reset-offsets` (dry run changes nothing, --execute followed by a re-read of everything, --shift-by,
 * refused while a member is active); `--list`, `--delete`; and kafka-python's KafkaConsumer(group_id=G)
 * resuming from the offsets our CLI committed (and the other way round), and kcat -G likewise.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  kcat,
  kfk,
  kfkSpawn,
  makeTempDir,
  pythonCode,
  registerCleanup,
  startBrokerProcess,
  stopAllProcesses,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';

registerCleanup();

let broker: BrokerProcess;
let B: string;
const TOPIC = 'orders';
const PARTITIONS = 3;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: { 'group.initial.rebalance.delay.ms': '0', 'offsets.topic.num.partitions': '5', 'num.partitions': String(PARTITIONS) },
  });
  B = broker.bootstrap;
  await ok(['topics', '--bootstrap-server', B, '--create', '--topic', TOPIC, '--partitions', String(PARTITIONS)]);
});

afterAll(async () => {
  await stopAllProcesses();
});

async function ok(args: string[], input?: string): Promise<string> {
  const res = await kfk(args, { input, timeoutMs: 30_000 });
  expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
  return res.stdout;
}

/** Produces lines with keys k0..kn so they spread over the partitions. */
async function produce(values: string[]): Promise<void> {
  const input = values.map((v, i) => `k${i}\t${v}\n`).join('');
  await ok(['console-producer', '--bootstrap-server', B, '--topic', TOPIC, '--property', 'parse.key=true'], input);
}

/** Runs console-consumer --group; the output lines (stderr kept in `log` for failure messages). */
async function consumeGroup(group: string, extra: string[], log?: string[]): Promise<string> {
  const args = ['console-consumer', '--bootstrap-server', B, '--topic', TOPIC, '--group', group, ...extra];
  const res = await kfk(args, { timeoutMs: 30_000 });
  log?.push(`$ kfk ${args.join(' ')}\n${res.stdout}${res.stderr}`);
  expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
  return res.stdout;
}

interface Row {
  group: string;
  topic: string;
  partition: number;
  current: string;
  logEnd: string;
  lag: string;
  consumerId: string;
  host: string;
  clientId: string;
}

async function describeOffsets(group: string): Promise<{ rows: Row[]; stdout: string; stderr: string }> {
  const res = await kfk(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', group]);
  expect(res.code, res.stderr).toBe(0);
  const lines = res.stdout.split('\n').filter((l) => l.trim() !== '');
  const rows = lines.slice(1).map((l) => {
    const c = l.trim().split(/\s+/);
    return { group: c[0]!, topic: c[1]!, partition: Number(c[2]), current: c[3]!, logEnd: c[4]!, lag: c[5]!, consumerId: c[6]!, host: c[7]!, clientId: c[8]! };
  });
  return { rows: rows.sort((a, b) => a.partition - b.partition), stdout: res.stdout, stderr: res.stderr };
}

const lagSum = (rows: Row[]): number => rows.reduce((s, r) => s + Number(r.lag), 0);
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

describe('console-consumer --group and consumer-groups', () => {
  const first = Array.from({ length: 10 }, (_, i) => `first-${i}`);
  const second = Array.from({ length: 5 }, (_, i) => `second-${i}`);

  it('consumes as a group, a second run resumes after the committed offsets, describe shows the lag', async () => {
    await produce(first);
    const log: string[] = [];
    const run1 = lines(await consumeGroup('g1', ['--from-beginning', '--max-messages', '6', '--timeout-ms', '10000'], log));
    expect(run1, log.join('\n')).toHaveLength(6);
    log.push((await describeOffsets('g1')).stdout);
    const run2 = lines(await consumeGroup('g1', ['--from-beginning', '--max-messages', '4', '--timeout-ms', '10000'], log));
    expect(run2, log.join('\n')).toHaveLength(4);
    expect([...run1, ...run2].sort(), log.join('\n')).toEqual([...first].sort());
    // Everything is committed: a third run gets nothing within its timeout.
    const run3 = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', TOPIC, '--group', 'g1', '--timeout-ms', '1500']);
    expect(run3.code, run3.stderr).toBe(0);
    expect(run3.stdout).toBe('');
    expect(run3.stderr).toContain('Processed a total of 0 messages');

    const after = await describeOffsets('g1');
    expect(after.stderr).toContain("Consumer group 'g1' has no active members.");
    expect(after.stdout.split('\n')[1]).toBe(
      'GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID',
    );
    expect(after.rows.map((r) => r.partition)).toEqual([0, 1, 2]);
    for (const r of after.rows) {
      expect(r).toMatchObject({ group: 'g1', topic: TOPIC, lag: '0', consumerId: '-', host: '-', clientId: '-' });
      expect(r.current).toBe(r.logEnd);
    }
    expect(after.rows.reduce((s, r) => s + Number(r.logEnd), 0)).toBe(10);

    await produce(second);
    const before = await describeOffsets('g1');
    expect(lagSum(before.rows)).toBe(5);
    for (const r of before.rows) expect(Number(r.lag)).toBe(Number(r.logEnd) - Number(r.current));
  });

  it('reset-offsets: a dry run changes nothing, --execute --to-earliest makes the group re-read everything', async () => {
    const before = await describeOffsets('g1');
    const dry = await ok(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g1', '--topic', TOPIC, '--to-earliest', '--dry-run']);
    expect(lines(dry)[0]).toBe(`${'GROUP'.padEnd(30)} ${'TOPIC'.padEnd(30)} ${'PARTITION'.padEnd(10)} ${'NEW-OFFSET'.padEnd(15)}`);
    expect(lines(dry).slice(1)).toEqual([0, 1, 2].map((p) => `${'g1'.padEnd(30)} ${TOPIC.padEnd(30)} ${String(p).padEnd(10)} ${'0'.padEnd(15)}`));
    expect((await describeOffsets('g1')).rows).toEqual(before.rows);

    // --shift-by on one partition (dry run): the committed offset minus one.
    const p0 = before.rows.find((r) => r.partition === 0)!;
    const shift = await ok(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g1', '--topic', `${TOPIC}:0`, '--shift-by', '-1', '--dry-run']);
    expect(lines(shift).slice(1).map((l) => l.trim().split(/\s+/))).toEqual([['g1', TOPIC, '0', String(Math.max(0, Number(p0.current) - 1))]]);
    // --to-datetime in the future: the log end.
    const future = await ok(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g1', '--all-topics', '--to-datetime', '2999-01-01T00:00:00.000', '--dry-run']);
    expect(lines(future).slice(1).map((l) => l.trim().split(/\s+/)[3])).toEqual(before.rows.map((r) => r.logEnd));

    const exec = await ok(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g1', '--topic', TOPIC, '--to-earliest', '--execute']);
    expect(exec).toBe(dry);
    const reset = await describeOffsets('g1');
    for (const r of reset.rows) expect(r.current).toBe('0');
    expect(lagSum(reset.rows)).toBe(15);

    const all = lines(await consumeGroup('g1', ['--max-messages', '15', '--timeout-ms', '10000']));
    expect(all.sort()).toEqual([...first, ...second].sort());
    expect(lagSum((await describeOffsets('g1')).rows)).toBe(0);
  });

  it('reset-offsets --to-current, --by-duration, and --export read back with --from-file', async () => {
    const before = await describeOffsets('g1');
    const newOffsets = (out: string): string[] => lines(out).slice(1).map((l) => l.trim().split(/\s+/)[3]!);
    const reset = (...args: string[]) => ok(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g1', ...args]);
    expect(newOffsets(await reset('--all-topics', '--to-current', '--dry-run'))).toEqual(before.rows.map((r) => r.current));
    // every record is younger than a day: the earliest offsets; none is younger than zero seconds: the log end
    expect(newOffsets(await reset('--all-topics', '--by-duration', 'P1DT0H', '--dry-run'))).toEqual(['0', '0', '0']);
    expect(newOffsets(await reset('--all-topics', '--by-duration', 'PT0S', '--dry-run'))).toEqual(before.rows.map((r) => r.logEnd));
    const bad = await kfk(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g1', '--all-topics', '--by-duration', '10 minutes', '--dry-run']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error: Error parsing duration '10 minutes'/);

    // --export prints Kafka's CSV; --from-file applies it
    const csv = await reset('--topic', TOPIC, '--shift-by', '-1', '--dry-run', '--export');
    expect(csv).toBe(before.rows.map((r) => `${TOPIC},${r.partition},${Math.max(0, Number(r.current) - 1)}\n`).join(''));
    const file = join(makeTempDir('kfk-groups'), 'offsets.csv');
    writeFileSync(file, csv);
    await reset('--from-file', file, '--execute');
    const moved = await describeOffsets('g1');
    expect(moved.rows.map((r) => r.current)).toEqual(before.rows.map((r) => String(Math.max(0, Number(r.current) - 1))));
    await reset('--all-topics', '--to-latest', '--execute');
    expect(lagSum((await describeOffsets('g1')).rows)).toBe(0);
  });

  it('refuses a reset while a member is active; describe shows the member; --list and --delete', async () => {
    const bg = kfkSpawn(['console-consumer', '--bootstrap-server', B, '--topic', TOPIC, '--group', 'g2', '--from-beginning']);
    await waitFor(() => lines(bg.stdout()).length >= 15, { timeoutMs: 20_000, message: 'the background group consumer to print 15 records' });
    await waitFor(
      async () => {
        const r = await kfk(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'g2', '--state']);
        return /\sStable\s+1\s*$/m.test(r.stdout);
      },
      { timeoutMs: 10_000, message: 'group g2 to be Stable with one member' },
    );

    const refused = await kfk(['consumer-groups', '--bootstrap-server', B, '--reset-offsets', '--group', 'g2', '--topic', TOPIC, '--to-earliest', '--execute']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe("Error: Assignments can only be reset if the group 'g2' is inactive, but the current state is Stable.\n");

    const members = await ok(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'g2', '--members']);
    expect(lines(members)[0]).toMatch(/^GROUP\s+CONSUMER-ID\s+HOST\s+CLIENT-ID\s+#PARTITIONS\s*$/);
    const member = lines(members)[1]!.trim().split(/\s+/);
    expect(member[0]).toBe('g2');
    expect(member[3]).toBe('console-consumer');
    expect(member[4]).toBe(String(PARTITIONS));

    // Committed offsets are auto-committed within auto.commit.interval.ms (5 s); then zero lag, with the member.
    await waitFor(async () => lagSum((await describeOffsets('g2')).rows) === 0 && (await describeOffsets('g2')).rows.every((r) => r.current !== '-'), {
      timeoutMs: 15_000,
      message: 'g2 to commit everything',
    });
    const active = await describeOffsets('g2');
    expect(active.stderr).toBe('');
    for (const r of active.rows) {
      expect(r.consumerId).toBe(member[1]);
      expect(r.clientId).toBe('console-consumer');
    }

    const notEmpty = await kfk(['consumer-groups', '--bootstrap-server', B, '--delete', '--group', 'g2']);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toContain("Group 'g2' could not be deleted due to: The group is not empty.");

    const stopped = await bg.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain('Processed a total of 15 messages');

    const listed = lines(await ok(['consumer-groups', '--bootstrap-server', B, '--list']));
    expect(listed).toEqual(expect.arrayContaining(['g1', 'g2']));
    expect(await ok(['consumer-groups', '--bootstrap-server', B, '--delete', '--group', 'g2'])).toBe(
      "Deletion of requested consumer groups ('g2') was successful.\n",
    );
    expect(lines(await ok(['consumer-groups', '--bootstrap-server', B, '--list']))).not.toContain('g2');
    const gone = await kfk(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'g2']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe("Error: Consumer group 'g2' does not exist.\n");
  });

  it("kafka-python's KafkaConsumer(group_id) resumes from the offsets our CLI committed, and we from its", async () => {
    const third = ['third-0', 'third-1', 'third-2'];
    await produce(third);
    const code = `
import json, sys, time
from kafka import KafkaConsumer
c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id='g1', auto_offset_reset='earliest',
                  enable_auto_commit=False, consumer_timeout_ms=1000)
got = []
deadline = time.time() + 20
while time.time() < deadline and len(got) < 3:
    for tp, recs in c.poll(timeout_ms=500).items():
        got.extend(r.value.decode() for r in recs)
# negative check: one more second of polling brings nothing (no record before the committed offsets is redelivered)
for tp, recs in c.poll(timeout_ms=1000).items():
    got.extend(r.value.decode() for r in recs)
c.commit()
c.close()
print(json.dumps(sorted(got)))
`;
    const res = await pythonCode(code, [B, TOPIC], { timeoutMs: 40_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(lines(res.stdout).at(-1)!)).toEqual(third);
    // kafka-python committed past the new records: zero lag, and our consumer gets nothing more.
    expect(lagSum((await describeOffsets('g1')).rows)).toBe(0);
    const again = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', TOPIC, '--group', 'g1', '--timeout-ms', '1500']);
    expect(again.stdout).toBe('');
  });

  it('kcat -G (librdkafka balanced consumer) resumes from the same committed offsets', async () => {
    const fourth = ['fourth-0', 'fourth-1'];
    await produce(fourth);
    const res = await kcat(['-b', B, '-G', 'g1', '-X', 'auto.offset.reset=earliest', '-e', '-q', TOPIC], { timeoutMs: 30_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(lines(res.stdout).sort()).toEqual(fourth);
    // librdkafka commits on close: zero lag again.
    expect(lagSum((await describeOffsets('g1')).rows)).toBe(0);
  });
});
