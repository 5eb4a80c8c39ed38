/**
 * A one-process cluster (startCluster(), the public API) in a child process of its own (test/clients/cluster.mjs),
 * whose single brokers the test kills, stops and restarts while clients and the CLI use it over TCP.
 */
import path from 'node:path';
import { REPO_ROOT } from './paths.js';
import { spawnProcess, type BackgroundProcess } from './run.js';
import { waitFor } from './wait.js';

export interface ClusterProcessBroker {
  id: number;
  port: number;
  bootstrap: string;
  running: boolean;
}

export interface ClusterProcess {
  /** Every broker's host:port, comma separated. */
  readonly bootstrap: string;
  readonly dataDir: string;
  /** As of the last answer from the child. */
  readonly brokers: readonly ClusterProcessBroker[];
  /** host:port of the brokers running now, comma separated. */
  liveBootstrap(): string;
  readonly proc: BackgroundProcess;
  /** killBroker(id): in-process kill -9. */
  kill(id: number): Promise<void>;
  /** stopBroker(id): controlled shutdown, then a clean stop. */
  stop(id: number): Promise<void>;
  restart(id: number): Promise<void>;
  /** Stops every broker cleanly and waits for the process to exit; resolves with its exit code. */
  close(): Promise<number | null>;
}

export interface StartClusterProcessOptions {
  brokers?: number;
  /** server.properties settings over startCluster()'s test-suite defaults. */
  config?: Record<string, string>;
  /** Broker log level on the child's stderr (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  timeoutMs?: number;
}

const SCRIPT = path.join(REPO_ROOT, 'test', 'clients', 'cluster.mjs');

export async function startClusterProcess(opts: StartClusterProcessOptions = {}): Promise<ClusterProcess> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const proc = spawnProcess(process.execPath, [SCRIPT, JSON.stringify({ brokers: opts.brokers ?? 3, config: opts.config ?? {}, logLevel: opts.logLevel ?? 'warn' })], {
    keepStdinOpen: true,
  });
  let answered = 0;
  const lines = (): Array<Record<string, unknown>> =>
    proc
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await proc.waitForOutput(/^\{.*\}\n/, { timeoutMs });
  const first = lines()[0] as { bootstrap: string; dataDir: string; brokers: ClusterProcessBroker[] };
  let brokers = first.brokers;

  // Commands are answered one line each, in order.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (text: string): Promise<void> => {
    const next = queue.then(async () => {
      const index = ++answered;
      proc.write(`${text}\n`);
      await waitFor(
        () => {
          if (proc.hasExited()) throw new Error(`cluster process exited: ${proc.stderr().slice(-2000)}`);
          return lines().length > index;
        },
        { timeoutMs, message: `the cluster process to answer '${text}'` },
      );
      const answer = lines()[index]!;
      if ('failed' in answer) throw new Error(`cluster process: ${text} failed: ${String(answer.error)}`);
      brokers = answer.brokers as ClusterProcessBroker[];
    });
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    bootstrap: first.bootstrap,
    dataDir: first.dataDir,
    get brokers() {
      return brokers;
    },
    liveBootstrap: () =>
      brokers
        .filter((b) => b.running)
        .map((b) => b.bootstrap)
        .join(','),
    proc,
    kill: (id) => command(`kill ${id}`),
    stop: (id) => command(`stop ${id}`),
    restart: (id) => command(`restart ${id}`),
    async close() {
      await queue;
      // End of stdin: the child stops every broker cleanly and exits (SIGTERM does the same, then SIGKILL).
      proc.end();
      const timer = setTimeout(() => void proc.stop('SIGTERM', 30_000), 60_000);
      try {
        return (await proc.exited).code;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
