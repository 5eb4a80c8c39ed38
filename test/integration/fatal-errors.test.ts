/**
 * A fatal error in the `kfk server start` process (issue 8, item 1): an unhandled rejection or an uncaught
 * exception is logged with its stack and the broker shuts down cleanly — checkpoints written, no
 * clean-shutdown marker (the next start re-validates the logs' tails), exit code 1 — and every acknowledged
 * record is there after a restart. A second fatal error during that shutdown exits at once.
 *
 * Nothing a client sends reaches the fatal path any more, so the fault is injected (KFK_TEST_FAULT=1, a
 * request with client id kfk-test-fault:<kind>; docs/testing.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kcat, makeTempDir, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';
import { RawConnection, encodeRequest } from '../helpers/raw-client.js';

registerCleanup();

const TOPIC = 'fatal';
const RECORDS = ['a', 'b', 'c', 'd', 'e'];

async function brokerWithData(): Promise<{ broker: BrokerProcess; tmp: string }> {
  const tmp = makeTempDir('kfk-pids');
  const broker = await startBrokerProcess({ env: { KFK_TEST_FAULT: '1', TMPDIR: tmp } });
  const produced = await kcat(['-b', broker.bootstrap, '-P', '-t', TOPIC, '-X', 'acks=all'], { input: RECORDS.join('\n') + '\n' });
  expect(produced.code, produced.stderr).toBe(0);
  return { broker, tmp };
}

/** Sends one request whose handling triggers the fault (the request itself is served normally). */
async function trigger(broker: BrokerProcess, kind: string): Promise<void> {
  const c = await RawConnection.open(broker.port);
  try {
    await c.write(encodeRequest(18, 3, 1, { clientSoftwareName: 'kfk-test', clientSoftwareVersion: '1' }, `kfk-test-fault:${kind}`));
    await c.waitForClose(15_000);
  } finally {
    c.destroy();
  }
}

async function restartAndRead(broker: BrokerProcess, tmp: string): Promise<void> {
  const again = await startBrokerProcess({ port: broker.port, dataDir: broker.dataDir, env: { TMPDIR: tmp } });
  const read = await kcat(['-b', again.bootstrap, '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%o:%s\\n']);
  expect(read.code, read.stderr).toBe(0);
  expect(read.stdout).toBe(RECORDS.map((r, i) => `${i}:${r}\n`).join(''));
  expect(await again.stop()).toBe(0);
}

describe('a fatal error in the broker process', () => {
  for (const [kind, what, message] of [
    ['unhandled-rejection', 'unhandled promise rejection', 'KFK_TEST_FAULT: unhandled rejection'],
    ['uncaught-exception', 'uncaught exception', 'KFK_TEST_FAULT: uncaught exception'],
  ] as const) {
    it(`(${what}) is logged with its stack, shuts the broker down without the clean-shutdown marker, exit 1`, async () => {
      const { broker, tmp } = await brokerWithData();
      await trigger(broker, kind);
      const result = await broker.exited;
      const stderr = broker.stderr();
      expect(result.code, stderr).toBe(1);
      expect(stderr).toMatch(new RegExp(`ERROR ${what}: Error: ${message}\\n\\s+at `));
      expect(stderr).toMatch(/ERROR shutting down after a fatal error: stopping listeners, flushing logs, writing checkpoints \(no clean-shutdown marker\)/);
      expect(stderr).toMatch(/ERROR shut down after a fatal error; exit code 1/);
      // checkpoints written, the marker not
      expect(existsSync(join(broker.dataDir, '.kafka_cleanshutdown'))).toBe(false);
      expect(readFileSync(join(broker.dataDir, 'recovery-point-offset-checkpoint'), 'utf8')).toMatch(new RegExp(`^${TOPIC} 0 ${RECORDS.length}$`, 'm'));
      await restartAndRead(broker, tmp);
    });
  }

  it('a second fatal error during that shutdown exits at once, and the data survives', async () => {
    const { broker, tmp } = await brokerWithData();
    await trigger(broker, 'fatal-twice');
    const result = await broker.exited;
    const stderr = broker.stderr();
    expect(result.code, stderr).toBe(1);
    expect(stderr).toMatch(/ERROR uncaught exception: Error: KFK_TEST_FAULT: first uncaught exception/);
    expect(stderr).toMatch(/ERROR uncaught exception during shutdown, exiting at once: Error: KFK_TEST_FAULT: second uncaught exception/);
    expect(stderr).not.toMatch(/shut down after a fatal error; exit code/);
    expect(existsSync(join(broker.dataDir, '.kafka_cleanshutdown'))).toBe(false);
    await restartAndRead(broker, tmp);
  });
});
