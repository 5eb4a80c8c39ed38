/**
 * `kfk dump-log` on segments written by a kfk broker from kcat (keys, headers, gzip): the batch and record
 * lines of kafka-dump-log.sh, `.index` and `.timeindex` dumps that agree with the log, and
 * `--verify-index-only` reporting a damaged index.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kcat, kfk, makeTempDir, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';

registerCleanup();

const TOPIC = 'dump-me';
let broker: BrokerProcess;
let segment: string;

const BATCH_RE =
  /^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) baseSequence: -?\d+ lastSequence: -?\d+ producerId: -?\d+ producerEpoch: -?\d+ partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: (\d+) CreateTime: (\d+) size: (\d+) magic: 2 compresscodec: (\w+) crc: (\d+) isvalid: true$/;

interface BatchLine {
  baseOffset: number;
  lastOffset: number;
  count: number;
  position: number;
  maxTimestamp: number;
  size: number;
  codec: string;
}

function batchLines(stdout: string): BatchLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('baseOffset:'))
    .map((l) => {
      const m = BATCH_RE.exec(l);
      expect(m, `unexpected batch line: ${l}`).not.toBeNull();
      const [, base, last, count, position, ts, size, codec] = m!;
      return { baseOffset: +base!, lastOffset: +last!, count: +count!, position: +position!, maxTimestamp: +ts!, size: +size!, codec: codec! };
    });
}

beforeAll(async () => {
  broker = await startBrokerProcess();
  const create = await kfk([
    'topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', TOPIC, '--partitions', '1', '--replication-factor', '1',
    '--config', 'index.interval.bytes=100',
  ]);
  expect(create.code, create.stderr).toBe(0);
  // one gzip batch of three keyed records with two headers each
  const gz = await kcat(['-b', broker.bootstrap, '-P', '-t', TOPIC, '-p', '0', '-K:', '-z', 'gzip', '-H', 'h1=a', '-H', 'h2=b', '-X', 'linger.ms=100'], {
    input: 'k0:hello-0\nk1:hello-1\nk2:hello-2\n',
  });
  expect(gz.code, gz.stderr).toBe(0);
  // then six uncompressed one-record batches (so the sparse indexes get entries)
  const plain = await kcat(['-b', broker.bootstrap, '-P', '-t', TOPIC, '-p', '0', '-X', 'batch.num.messages=1', '-X', 'linger.ms=0'], {
    input: Array.from({ length: 6 }, (_, i) => `plain-${i}-${'p'.repeat(120)}`).join('\n') + '\n',
  });
  expect(plain.code, plain.stderr).toBe(0);
  segment = path.join(broker.dataDir, `${TOPIC}-0`, '00000000000000000000');
});

describe('kfk dump-log', () => {
  it('--print-data-log shows every batch and record as kafka-dump-log.sh does', async () => {
    const res = await kfk(['dump-log', '--files', `${segment}.log`, '--print-data-log']);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toBe(`Dumping ${segment}.log`);
    expect(lines[1]).toBe('Log starting offset: 0');
    const batches = batchLines(res.stdout);
    expect(batches[0]).toMatchObject({ baseOffset: 0, lastOffset: 2, count: 3, position: 0, codec: 'gzip' });
    expect(batches.slice(1).map((b) => [b.baseOffset, b.count, b.codec])).toEqual(Array.from({ length: 6 }, (_, i) => [3 + i, 1, 'none']));
    // positions are cumulative sizes
    for (let i = 1; i < batches.length; i++) expect(batches[i]!.position).toBe(batches[i - 1]!.position + batches[i - 1]!.size);
    expect(batches.at(-1)!.position + batches.at(-1)!.size).toBe(fs.statSync(`${segment}.log`).size);

    const records = lines.filter((l) => l.startsWith('| '));
    expect(records).toHaveLength(9);
    expect(records[0]).toMatch(/^\| offset: 0 CreateTime: \d+ keySize: 2 valueSize: 7 sequence: -?\d+ headerKeys: \[h1,h2\] key: k0 payload: hello-0$/);
    expect(records[2]).toMatch(/^\| offset: 2 CreateTime: \d+ keySize: 2 valueSize: 7 sequence: -?\d+ headerKeys: \[h1,h2\] key: k2 payload: hello-2$/);
    expect(records[3]).toMatch(new RegExp(`^\\| offset: 3 CreateTime: \\d+ keySize: -1 valueSize: 128 sequence: -?\\d+ headerKeys: \\[\\] payload: plain-0-p{120}$`));
  });

  it('without --print-data-log: batches only; --deep-iteration adds record metadata without payloads', async () => {
    const shallow = await kfk(['dump-log', '--files', `${segment}.log`]);
    expect(shallow.code, shallow.stderr).toBe(0);
    expect(batchLines(shallow.stdout)).toHaveLength(7);
    expect(shallow.stdout).not.toContain('| offset:');
    const deep = await kfk(['dump-log', '--files', `${segment}.log`, '--deep-iteration']);
    expect(deep.code, deep.stderr).toBe(0);
    const records = deep.stdout.split('\n').filter((l) => l.startsWith('| '));
    expect(records).toHaveLength(9);
    expect(records.every((l) => !l.includes('payload:'))).toBe(true);
  });

  it('.index and .timeindex dumps agree with the log; --verify-index-only prints no entries and no mismatch', async () => {
    const log = batchLines((await kfk(['dump-log', '--files', `${segment}.log`])).stdout);
    const res = await kfk(['dump-log', '--files', `${segment}.index,${segment}.timeindex`]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const [indexPart, timePart] = res.stdout.split(`Dumping ${segment}.timeindex\n`);
    expect(indexPart!.startsWith(`Dumping ${segment}.index\n`)).toBe(true);
    const entries = indexPart!.split('\n').slice(1).filter((l) => l !== '');
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      const m = /^offset: (\d+) position: (\d+)$/.exec(e);
      expect(m, e).not.toBeNull();
      // each entry is (a batch's last offset → that batch's position)
      expect(log.some((b) => b.lastOffset === +m![1]! && b.position === +m![2]!), e).toBe(true);
    }
    const timeEntries = timePart!.split('\n').filter((l) => l !== '');
    expect(timeEntries.length).toBeGreaterThan(0);
    for (const e of timeEntries) {
      const m = /^timestamp: (\d+) offset: (\d+)$/.exec(e);
      expect(m, e).not.toBeNull();
      expect(log.some((b) => b.lastOffset === +m![2]! && b.maxTimestamp === +m![1]!), e).toBe(true);
    }

    const verify = await kfk(['dump-log', '--files', `${segment}.index,${segment}.timeindex`, '--verify-index-only']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toBe(`Dumping ${segment}.index\nDumping ${segment}.timeindex\n`);
    expect(verify.stderr).toBe('');
  });

  it('--verify-index-only reports an index entry that does not match the log', async () => {
    const dir = makeTempDir('kfk-dump-');
    const copy = path.join(dir, '00000000000000000000');
    fs.copyFileSync(`${segment}.log`, `${copy}.log`);
    const index = fs.readFileSync(`${segment}.index`);
    expect(index.length).toBeGreaterThanOrEqual(8);
    index.writeInt32BE(0, 4); // first entry now points at the gzip batch (last offset 2)
    fs.writeFileSync(`${copy}.index`, index);
    const res = await kfk(['dump-log', '--files', `${copy}.index`, '--verify-index-only']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`Mismatches in :${copy}.index`);
    expect(res.stderr).toMatch(/ {2}Index offset: \d+, log offset: 2/);
  });

  it('a corrupt batch shows isvalid: false, and a torn tail is reported as invalid bytes', async () => {
    const dir = makeTempDir('kfk-dump-');
    const copy = path.join(dir, '00000000000000000000.log');
    const log = fs.readFileSync(`${segment}.log`);
    const last = batchLines((await kfk(['dump-log', '--files', `${segment}.log`])).stdout).at(-1)!;
    // flip a byte inside the last (uncompressed) batch's value, then append half a batch header
    log[last.position + last.size - 3]! ^= 0xff;
    fs.writeFileSync(copy, Buffer.concat([log, log.subarray(0, 30)]));
    const res = await kfk(['dump-log', '--files', copy]);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.split('\n').filter((l) => l.startsWith('baseOffset:'));
    expect(lines).toHaveLength(7);
    expect(lines.at(-1)).toMatch(/ isvalid: false$/);
    expect(lines.slice(0, -1).every((l) => l.endsWith(' isvalid: true'))).toBe(true);
    expect(res.stdout).toContain('Found 30 invalid bytes at the end of 00000000000000000000.log');
  });

  it('a missing file is an error', async () => {
    const res = await kfk(['dump-log', '--files', `${segment}.nope.log`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^Error: file .* does not exist/);
  });
});
