/**
 * Exactly once through a consume-transform-produce loop (confluent-kafka): it reads `input` with read_committed,
 * writes each record transformed to `output` and sends its consumer offsets to the same transaction. It is killed
 * with SIGKILL in the middle of a transaction, and started again with the same transactional id and group: the new
 * instance fences the old one (its open transaction is aborted), resumes from the offsets of the last committed
 * transaction, and a read_committed consumer (kcat) finds every input record exactly once in the output.
 *
 * And a broker killed with SIGKILL right after it wrote a PrepareCommit (KFK_TEST_TXN_FAULT=halt-before-markers):
 * restarted on its data, it recovers __transaction_state, resumes the transaction and writes its markers; the
 * producer's commit (retried across the restart) succeeds and read_committed consumers see the transaction. The
 * `.txnindex` files of an earlier aborted transaction are deleted while the broker is down: recovery rebuilds them,
 * so read_committed consumers still skip it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, kcat, kfk, python, registerCleanup, spawnProcess, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';

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

describe('a broker killed between PrepareCommit and the markers', () => {
  it('completes the commit after its restart', async () => {
    const overrides = { 'transaction.state.log.num.partitions': '1', 'offsets.topic.num.partitions': '1' };
    const first = await startBrokerProcess({ overrides, env: { KFK_TEST_FAULT: '1', KFK_TEST_TXN_FAULT: 'halt-before-markers' } });
    const created = await kfk(['topics', '--create', '--topic', 'crash', '--partitions', '2', '--bootstrap-server', first.bootstrap]);
    expect(created.code, created.stderr).toBe(0);
    const values = Array.from({ length: 20 }, (_, i) => `v${i}`);
    const producer = spawnProcess('/usr/bin/python3', [
      CK,
      'produce',
      JSON.stringify({
        bootstrap: first.bootstrap,
        transactional_id: 'crash-txn',
        topic: 'crash',
        transactions: [
          { commit: false, values: ['aborted-1', 'aborted-2', 'aborted-3'] },
          { commit: true, values },
        ],
        timeout_ms: 90000,
      }),
    ]);
    // the broker kills itself (SIGKILL) once PrepareCommit is written
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(first.stdout() + first.stderr()).toContain('halt-before-markers: broker 0 dies after writing PrepareCommit of crash-txn');
    const txnIndexes = ['crash-0', 'crash-1'].flatMap((d) =>
      fs.readdirSync(path.join(first.dataDir, d)).filter((f) => f.endsWith('.txnindex')).map((f) => path.join(first.dataDir, d, f)),
    );
    expect(txnIndexes.length).toBeGreaterThan(0); // the abort was indexed
    for (const f of txnIndexes) fs.rmSync(f);
    const second = await startBrokerProcess({ port: first.port, dataDir: first.dataDir, overrides });
    await waitFor(() => producer.stdout().includes('results'), { timeoutMs: 90_000, message: 'the producer to finish its commit' });
    expect(JSON.parse(producer.stdout().trim().split('\n').at(-1)!)).toEqual({ results: ['aborted', 'committed'] });
    expect(second.stdout() + second.stderr()).toMatch(/completing 1 transactions in PrepareCommit\/PrepareAbort/);
    const r = await kcat(['-b', second.bootstrap, '-C', '-t', 'crash', '-o', 'beginning', '-e', '-q', '-X', 'isolation.level=read_committed', '-f', '%s\n']);
    expect(r.stdout.split('\n').filter((l) => l !== '').sort()).toEqual([...values].sort());
    expect(txnIndexes.every((f) => fs.existsSync(f))).toBe(true); // rebuilt by recovery
    const all = await kcat(['-b', second.bootstrap, '-C', '-t', 'crash', '-o', 'beginning', '-e', '-q', '-X', 'isolation.level=read_uncommitted', '-f', '%s\n']);
    expect(all.stdout).toContain('aborted-2');
  });
});
