/**
 * Exactly once through a consume-transform-produce loop (confluent-kafka): it reads `input` with read_committed,
 * writes each record transformed to `output` and sends its consumer offsets to the same transaction. It is killed
 * with SIGKILL in the middle of a transaction, and started again with the same transactional id and group: the new
 * instance fences the old one (its open transaction is aborted), resumes from the offsets of the last committed
 * transaction, and a read_committed consumer (kcat) finds every input record exactly once in the output.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, kcat, kfk, python, registerCleanup, spawnProcess, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';

registerCleanup();

const CK = path.join(REPO_ROOT, 'test', 'clients', 'ck_transactions.py');
const RECORDS = 600;

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: { 'offsets.topic.num.partitions': '3', 'transaction.state.log.num.partitions': '3', 'group.initial.rebalance.delay.ms': '0' },
  });
  for (const topic of ['input', 'output']) {
    const r = await kfk(['topics', '--create', '--topic', topic, '--partitions', '3', '--bootstrap-server', broker.bootstrap]);
    expect(r.code, r.stderr).toBe(0);
  }
  const lines = Array.from({ length: RECORDS }, (_, i) => `k${i}:i-${i}`).join('\n') + '\n';
  const r = await kcat(['-b', broker.bootstrap, '-P', '-t', 'input', '-K', ':'], { input: lines });
  expect(r.code, r.stderr).toBe(0);
});

describe('consume-transform-produce with transactions', () => {
  it('produces every input record exactly once in the output across a kill -9 and restart', async () => {
    const loop = {
      bootstrap: broker.bootstrap,
      transactional_id: 'eos-loop',
      group: 'eos-group',
      input: 'input',
      output: 'output',
      per_txn: 25,
      expect: RECORDS,
    };
    // The first instance commits at least 200 records, then holds a transaction open (its records produced and
    // flushed, its offsets not yet sent), and is killed there.
    const first = spawnProcess('/usr/bin/python3', [CK, 'eos', JSON.stringify({ ...loop, hold_after: 200 })]);
    await first.waitForOutput('holding', { timeoutMs: 90_000 });
    await first.stop('SIGKILL');
    expect(first.stdout()).not.toMatch(new RegExp(`committed ${RECORDS}\\b`));

    const second = await python(CK, ['eos', JSON.stringify(loop)], { timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`committed ${RECORDS}\\b`));

    const read = async (isolation: string) => {
      const r = await kcat(['-b', broker.bootstrap, '-C', '-t', 'output', '-o', 'beginning', '-e', '-q', '-X', `isolation.level=${isolation}`, '-f', '%s\n']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    const committed = await read('read_committed');
    const expected = Array.from({ length: RECORDS }, (_, i) => `out-i-${i}`);
    expect(committed.length).toBe(RECORDS);
    expect([...committed].sort()).toEqual([...expected].sort());
    // The killed instance's open transaction reached the log and was aborted: read_uncommitted sees its duplicates.
    const uncommitted = await read('read_uncommitted');
    expect(uncommitted.length).toBeGreaterThan(RECORDS);
  });
});
