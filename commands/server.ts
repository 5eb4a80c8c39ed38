/**
 * kfk server start [server.properties] [--override k=v ...] [--brokers N [--ports p0,p1,...]]
 *                                                              (kafka-server-start.sh)
 * kfk server stop                                              (kafka-server-stop.sh)
 *
 * start runs one broker in the foreground until SIGTERM/SIGINT, then shuts down cleanly (a
 * controlled shutdown when other brokers are alive, then flush, checkpoints, clean-shutdown marker)
 * and exits 0. It prints one line on stdout when ready:
 * `started (kfk broker id=<id>, listeners=<...>)`. With --brokers N it runs brokers 0..N-1 in this
 * one process (src/broker/launch-cluster.ts: consecutive ports from the listener's, or --ports; data
 * in <log.dirs>/broker-<id>) and prints one such line per broker. Each running process leaves a pid
 * file in <tmpdir>/kfk-brokers so that `server stop` can find it, as kafka-server-stop.sh finds Kafka's.
 *
 * A fatal error (uncaught exception, unhandled rejection) is logged and shuts the broker(s) down without the
 * clean-shutdown marker, exit code 1 (fatal-errors.ts). KFK_TEST_FAULT=1 enables test-only fault injection
 * (test-faults.ts).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerConfigFromProperties, loadBrokerProperties, parseOverride } from '../src/config/broker-config.js';
import { refuseUnsafeProperties } from '../src/config/unsafe-settings.js';
import { ConfigError } from '../src/config/config-def.js';
import { launchBroker } from '../src/broker/launch.js';
import { launchCluster } from '../src/broker/launch-cluster.js';
import { createLogger } from '../src/server/logger.js';
import type { RunningBroker } from '../src/broker/launch.js';

/** What `server start` runs: one broker, or the brokers of --brokers N. */
interface Running {
  stop(opts?: { cleanShutdown?: boolean }): Promise<void>;
  readonly failed: Promise<Error>;
}
import { installFatalErrorHandlers } from './fatal-errors.js';
import { testFaultsEnabled, txnFaultHook, withTestFaults } from './test-faults.js';

export class UsageError extends Error {}

const PID_DIR = join(tmpdir(), 'kfk-brokers');

const USAGE = `Usage: kfk server start [server.properties] [--override property=value]* [--brokers N [--ports p0,p1,...]]
       kfk server stop`;

export async function runServer(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'start') return start(rest);
  if (sub === 'stop') return stop(rest);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return sub === undefined ? 1 : 0;
  }
  throw new UsageError(`unknown server command '${sub}' (expected start or stop)`);
}

interface StartArgs {
  file?: string;
  overrides: Record<string, string>;
  /** --brokers N: N brokers in this process. */
  brokers?: number;
  /** --ports: one port per broker. */
  ports?: number[];
}

function positiveInt(value: string | undefined, flag: string): number {
  if (value === undefined || !/^\d+$/.test(value.trim()) || Number(value) < 1) throw new UsageError(`${flag} needs a positive integer (got '${value ?? ''}')`);
  return Number(value);
}

function portList(value: string | undefined): number[] {
  if (value === undefined || value.trim() === '') throw new UsageError('--ports needs a comma-separated list of ports, e.g. 9092,9095,9098');
  return value.split(',').map((p) => {
    const s = p.trim();
    if (!/^\d+$/.test(s) || Number(s) > 65535) throw new UsageError(`--ports: '${s}' is not a port`);
    return Number(s);
  });
}

function parseStartArgs(args: string[]): StartArgs {
  let file: string | undefined;
  let brokers: number | undefined;
  let ports: number[] | undefined;
  const overrides: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--override') {
      const v = args[++i];
      if (v === undefined) throw new UsageError('--override needs a property=value argument');
      const [k, val] = parseOverride(v);
      overrides[k] = val;
    } else if (a.startsWith('--override=')) {
      const [k, val] = parseOverride(a.slice('--override='.length));
      overrides[k] = val;
    } else if (a === '--brokers') {
      brokers = positiveInt(args[++i], '--brokers');
    } else if (a.startsWith('--brokers=')) {
      brokers = positiveInt(a.slice('--brokers='.length), '--brokers');
    } else if (a === '--ports') {
      ports = portList(args[++i]);
    } else if (a.startsWith('--ports=')) {
      ports = portList(a.slice('--ports='.length));
    } else if (a === '--daemon') {
      throw new UsageError('--daemon is not supported; run it in the background with & or nohup');
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option '${a}' for server start`);
    } else if (file === undefined) {
      file = a;
    } else {
      throw new UsageError(`unexpected argument '${a}' (only one properties file is accepted)`);
    }
  }
  if (ports && brokers === undefined) brokers = ports.length;
  if (ports && ports.length !== brokers) throw new UsageError(`--ports lists ${ports.length} port(s) for --brokers ${brokers}`);
  return { file, overrides, ...(brokers !== undefined ? { brokers } : {}), ...(ports ? { ports } : {}) };
}

async function start(args: string[]): Promise<number> {
  const { file, overrides, brokers, ports } = parseStartArgs(args);
  const properties = loadBrokerProperties({ file, overrides });
  // Settings kfk must not silently ignore are refused first, so that the error names them (docs/limits.md).
  refuseUnsafeProperties(properties);
  const config = brokerConfigFromProperties(properties);
  const debug = process.env.KFK_DEBUG === '1';
  const logger = createLogger(debug ? 'debug' : 'info');
  for (const key of Object.keys(config.unknown)) logger.warn(`The configuration '${key}' was supplied but isn't a known config.`);
  const pidFile = join(PID_DIR, String(process.pid));

  let running: Running | undefined;
  let finish: (code: number) => void = (code) => process.exit(code);
  // Installed before the broker starts, so that a fatal error during start-up also stops what was opened.
  const fatal = installFatalErrorHandlers({
    logger,
    shutdown: () => (running ? running.stop({ cleanShutdown: false }) : Promise.resolve()),
    exit: (code) => finish(code),
    exitNow: (code) => {
      rmSync(pidFile, { force: true });
      process.exit(code);
    },
  });
  const faults = testFaultsEnabled();
  if (faults) logger.warn('KFK_TEST_FAULT=1: test-only fault injection is enabled (client ids kfk-test-fault:<kind>)');
  // KFK_TEST_TXN_FAULT (test-faults.ts): the broker whose coordinator writes the first PrepareCommit dies there.
  let haltBroker: (brokerId: number) => void = () => process.kill(process.pid, 'SIGKILL');
  const txnHook = txnFaultHook(process.env, (id) => haltBroker(id), (m) => logger.warn(m));
  const launchOpts = { logger, ...(faults ? { wrapHandler: withTestFaults } : {}) };
  const started: Array<{ id: number; listeners: string }> = [];
  const listenersOf = (r: RunningBroker) => r.broker.endpoints.map((l) => `${l.name}://${l.host}:${l.port}`).join(',');
  try {
    if (brokers === undefined) {
      const broker = await launchBroker(config, { ...launchOpts, ...(txnHook ? { beforeSendingTxnMarkers: (id: string, commit: boolean) => txnHook(config.brokerId, id, commit) } : {}) });
      running = broker;
      started.push({ id: config.brokerId, listeners: listenersOf(broker) });
    } else {
      let cluster;
      try {
        cluster = await launchCluster(config, { brokers, ...(ports ? { ports } : {}), ...launchOpts, ...(txnHook ? { beforeSendingTxnMarkers: txnHook } : {}) });
        const launched = cluster;
        haltBroker = (id) => void launched.killBroker(id).catch((err: unknown) => logger.error(`killing broker ${id}: ${(err as Error).message}`));
      } catch (err) {
        if (/^--(brokers|ports)/.test((err as Error).message)) throw new UsageError((err as Error).message);
        throw err;
      }
      const runningBrokers = cluster.brokers.map((b) => b.running!);
      running = {
        stop: () => cluster.stop(),
        // Any broker of the process that stops itself (its log dirs failed) ends the process, as one broker would.
        failed: Promise.race(runningBrokers.map((r) => r.failed)),
      };
      for (const b of cluster.brokers) started.push({ id: b.id, listeners: listenersOf(b.running!) });
    }
  } catch (err) {
    fatal.uninstall();
    throw err;
  }
  mkdirSync(PID_DIR, { recursive: true });
  writeFileSync(pidFile, `${process.pid}\n`);
  for (const s of started) process.stdout.write(`started (kfk broker id=${s.id}, listeners=${s.listeners})\n`);

  return new Promise<number>((resolve) => {
    finish = (code) => {
      rmSync(pidFile, { force: true });
      resolve(code);
      // Whatever a failed subsystem left scheduled must not keep the process alive.
      if (code !== 0) setTimeout(() => process.exit(code), 2000).unref();
    };
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping || fatal.triggered) return;
      stopping = true;
      fatal.shuttingDown();
      logger.info(`received ${signal}, shutting down`);
      running!
        .stop()
        .then(() => {
          logger.info('shut down cleanly');
          finish(0);
        })
        .catch((err) => {
          logger.error(`error during shutdown: ${(err as Error).stack ?? err}`);
          finish(1);
        });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    // The broker stopped itself (every log dir failed): it has shut down already; exit non-zero.
    void running!.failed.then((err) => {
      if (stopping) return;
      stopping = true;
      rmSync(pidFile, { force: true });
      logger.error(`broker stopped: ${err.message}`);
      resolve(1);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // ESRCH: no such process. EPERM: it exists but belongs to another user, so it is alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function stop(args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`unexpected argument '${args[0]}' for server stop`);
  let pids: number[] = [];
  try {
    pids = readdirSync(PID_DIR)
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 0);
  } catch (e) {
    // no pid directory: no broker was ever started here; any other failure is reported
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    pids = [];
  }
  const live = pids.filter((p) => {
    if (alive(p)) return true;
    rmSync(join(PID_DIR, String(p)), { force: true });
    return false;
  });
  if (live.length === 0) {
    process.stderr.write('No kafka server to stop\n');
    return 1;
  }
  for (const p of live) process.kill(p, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (live.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const stuck = live.filter(alive);
  if (stuck.length > 0) {
    process.stderr.write(`Error: broker process(es) ${stuck.join(', ')} did not stop within 60 s\n`);
    return 1;
  }
  return 0;
}

export { ConfigError };
