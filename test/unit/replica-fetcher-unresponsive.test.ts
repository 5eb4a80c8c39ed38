/**
 * A follower whose leader stops answering (paused with SIGSTOP, a long GC, cut off): its TCP connection is still
 * accepted by the kernel, but ApiVersions is never answered. Stopping or retargeting that fetcher must not wait for
 * the connect to time out (replica.socket.timeout.ms, 30 s by default): the broker's reconciliation waits for it, so
 * every partition of the broker would wait — a new leader elected because the old one was paused included.
 * (Found by scripts/chaos.mjs: a broker became leader only when its connect to the paused previous leader timed out.)
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaFetcher, type ReplicaFetcherHost } from '../../src/replication/replica-fetcher.js';
import { DEFAULT_REPLICATION_CONFIG } from '../../src/replication/replication-config.js';
import { silentLogger } from '../../src/server/logger.js';
import { waitFor } from '../helpers/wait.js';

/** A "broker" that accepts connections and never answers (the kernel accepts for a stopped process too). */
async function silentBroker(): Promise<{ port: number; sockets: net.Socket[]; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const host: ReplicaFetcherHost = {
  brokerId: 1,
  // Ten minutes: a fetcher that waited for the connect to time out would outlive the test.
  config: { ...DEFAULT_REPLICATION_CONFIG, replicaSocketTimeoutMs: 600_000 },
  logger: silentLogger,
  followerPartition: () => undefined,
  onFollowerUpdate: () => {},
};

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe('a replica fetcher connecting to a leader that does not answer', () => {
  it('shuts down at once, abandoning the connect', async () => {
    const broker = await silentBroker();
    cleanup.push(broker.close);
    const fetcher = new ReplicaFetcher({ id: 0, host: '127.0.0.1', port: broker.port }, 0, host);
    fetcher.addPartitions([{ topic: 't', partition: 0, leaderEpoch: 1 }]);
    await waitFor(() => broker.sockets.length === 1, { message: 'the fetcher to connect' });
    await fetcher.shutdown();
    // The connect was abandoned, not timed out: its socket is closed by the fetcher once given up, or still there.
    expect(broker.sockets).toHaveLength(1);
  });

  it('connects to the new endpoint after a retarget instead of waiting for the old one', async () => {
    const silent = await silentBroker();
    cleanup.push(silent.close);
    const next = await silentBroker();
    cleanup.push(next.close);
    const fetcher = new ReplicaFetcher({ id: 0, host: '127.0.0.1', port: silent.port }, 0, host);
    cleanup.push(() => fetcher.shutdown());
    fetcher.addPartitions([{ topic: 't', partition: 0, leaderEpoch: 1 }]);
    await waitFor(() => silent.sockets.length === 1, { message: 'the fetcher to connect' });
    fetcher.retarget({ id: 0, host: '127.0.0.1', port: next.port });
    await waitFor(() => next.sockets.length === 1, { timeoutMs: 20_000, message: 'a connection to the new endpoint' });
  });
});
