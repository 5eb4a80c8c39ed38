import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { KFK_BIN, REPO_ROOT } from './paths.js';
import { freePort } from './ports.js';
import { spawnProcess, type BackgroundProcess, type RunResult } from './run.js';
import { makeTempDir } from './tmp.js';

export interface StartBrokerOptions {
  /** `--override k=v` pairs. `listeners` / `log.dirs` given here replace the harness defaults. */
  overrides?: Record<string, string>;
  /** Extra arguments placed right after `server start` (e.g. a properties file, `--brokers 3`). */
  args?: string[];
  /** Extra environment (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  /** Listen on this port (default: a free one). Use with `dataDir` to restart a broker "in place". */
  port?: number;
  /** Data directory for `log.dirs` (default: a fresh temp dir, removed by `cleanupTempDirs()`). */
  dataDir?: string;
  /** How long to wait for the `started (` line (default 15 000 ms). */
  timeoutMs?: number;
  /** Copy the broker's output to stderr as it arrives (also on with KFK_TEST_VERBOSE=1). */
  echo?: boolean;
  /**
   * Start the broker under this open-file limit (soft and hard, as `ulimit -n` sets them): the command becomes
   * `bash -c 'ulimit -n <n> && exec node bin/kfk.js server start ...'`, so the pid is still the broker's.
   */
  openFileLimit?: number;
}

export interface BrokerProcess {
  port: number;
  /** `127.0.0.1:<port>` */
  bootstrap: string;
  dataDir: string;
  proc: ChildProcess;
  pid: number | undefined;
  /** The `started (kfk broker id=..., listeners=...)` line. */
  startedLine: string;
  /** Broker id parsed from the started line (undefined if it could not be parsed). */
  brokerId: number | undefined;
  /** The options this broker was started with (port/dataDir filled in), for restarts. */
  options: StartBrokerOptions & { port: number; dataDir: string };
  stdout(): string;
  stderr(): string;
  /** Whether the process has exited. */
  hasExited(): boolean;
  /** Resolves when the process exits (never rejects). */
  exited: Promise<RunResult>;
  /**
   * Send `signal` (default SIGTERM) and wait for exit; resolves with the exit code (null if killed by a signal).
   * If the process is still alive after `timeoutMs` (default 15 000) it is SIGKILLed and the promise rejects.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL (crash simulation) and wait for the process to be gone. */
  kill9(): Promise<void>;
  /** Stop (SIGTERM) and start again on the same port and data dir; returns the new handle. */
  restart(extra?: Partial<StartBrokerOptions>): Promise<BrokerProcess>;
}

const brokers = new Set<BrokerProcess>();

const STARTED_RE = /^started \(.*$/m;

function tail(s: string, max = 6000): string {
  return s.length <= max ? s : `…${s.slice(s.length - max)}`;
}

function portFromListeners(listeners: string): number | undefined {
  const m = /:(\d+)\s*(?:,|$)/.exec(listeners);
  return m ? Number(m[1]) : undefined;
}

/**
 * Start `node bin/kfk.js server start ... --override listeners=PLAINTEXT://127.0.0.1:<port>
 * --override log.dirs=<dataDir>` and wait for its `started (` line.
 * Rejects (with the captured stdout/stderr) if the process exits first or the deadline passes.
 */
export async function startBrokerProcess(opts: StartBrokerOptions = {}): Promise<BrokerProcess> {
  if (!fs.existsSync(KFK_BIN)) {
    throw new Error(`startBrokerProcess: ${KFK_BIN} does not exist (is the CLI written yet?)`);
  }
  const fixedPort = opts.port !== undefined || opts.overrides?.listeners !== undefined;
  const attempts = fixedPort ? 1 : 3;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err as Error;
      // freePort() is racy: if somebody grabbed the port in between, try another one.
      if (!(err instanceof PortInUseError)) throw err;
    }
  }
  throw lastError!;
}

class PortInUseError extends Error {}

async function startOnce(opts: StartBrokerOptions): Promise<BrokerProcess> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const overrides: Record<string, string> = { ...opts.overrides };
  let port: number;
  if (overrides.listeners !== undefined) {
    const p = portFromListeners(overrides.listeners);
    if (p === undefined) throw new Error(`startBrokerProcess: cannot find a port in listeners=${overrides.listeners}`);
    port = p;
  } else {
    port = opts.port ?? (await freePort());
    overrides.listeners = `PLAINTEXT://127.0.0.1:${port}`;
  }
  const dataDir = overrides['log.dirs'] ?? opts.dataDir ?? makeTempDir('kfk-broker-');
  overrides['log.dirs'] = dataDir;

  const args = [KFK_BIN, 'server', 'start', ...(opts.args ?? [])];
  for (const [k, v] of Object.entries(overrides)) args.push('--override', `${k}=${v}`);

  const [cmd, cmdArgs] =
    opts.openFileLimit === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${Math.floor(opts.openFileLimit)} && exec "$0" "$@"`, process.execPath, ...args]];
  const bg: BackgroundProcess = spawnProcess(cmd, cmdArgs, {
    cwd: REPO_ROOT,
    env: opts.env,
    echo: opts.echo,
  });

  try {
    await bg.waitForOutput(STARTED_RE, { timeoutMs });
  } catch (err) {
    const exitedEarly = bg.hasExited();
    const res = await bg.stop('SIGKILL', 0);
    const output = `--- stdout ---\n${tail(res.stdout)}\n--- stderr ---\n${tail(res.stderr)}`;
    if (exitedEarly && /EADDRINUSE|address already in use/i.test(res.stdout + res.stderr)) {
      throw new PortInUseError(`broker could not bind port ${port}\n${output}`);
    }
    const why = exitedEarly
      ? `exited (code=${res.code}, signal=${res.signal}) before printing "started ("`
      : `did not print "started (" within ${timeoutMs}ms (killed)`;
    let hint = '';
    if (/ERR_MODULE_NOT_FOUND|Cannot find module/.test(res.stderr) && /dist/.test(res.stderr)) {
      hint = '\nhint: run `npm run build` first (bin/kfk.js loads the compiled dist/).';
    }
    throw new Error(`broker ${why}: ${bg.command}${hint}\n${output}`, { cause: err });
  }

  const startedLine = STARTED_RE.exec(bg.stdout())![0];
  const idMatch = /id=(\d+)/.exec(startedLine);
  const options = { ...opts, overrides: opts.overrides, port, dataDir };

  const broker: BrokerProcess = {
    port,
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    proc: bg.proc,
    pid: bg.pid,
    startedLine,
    brokerId: idMatch ? Number(idMatch[1]) : undefined,
    options,
    stdout: bg.stdout,
    stderr: bg.stderr,
    hasExited: bg.hasExited,
    exited: bg.exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', stopTimeoutMs = 15_000): Promise<number | null> {
      brokers.delete(broker);
      if (!bg.hasExited()) {
        try {
          if (bg.pid !== undefined) process.kill(bg.pid, signal);
        } catch {
          /* already gone */
        }
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), stopTimeoutMs);
      });
      const first = await Promise.race([bg.exited, timedOut]);
      clearTimeout(timer);
      if (first === 'timeout') {
        const res = await bg.stop('SIGKILL', 0);
        throw new Error(
          `broker pid ${bg.pid} did not exit within ${stopTimeoutMs}ms after ${signal}; SIGKILLed\n` +
            `--- stdout ---\n${tail(res.stdout)}\n--- stderr ---\n${tail(res.stderr)}`,
        );
      }
      return first.code;
    },
    async kill9(): Promise<void> {
      brokers.delete(broker);
      await bg.stop('SIGKILL', 0);
    },
    async restart(extra: Partial<StartBrokerOptions> = {}): Promise<BrokerProcess> {
      if (!bg.hasExited()) await broker.stop();
      return startBrokerProcess({ ...options, ...extra, port, dataDir });
    },
  };
  brokers.add(broker);
  return broker;
}

/**
 * Stop every broker started by this worker that is still running: SIGTERM, then SIGKILL after `graceMs`.
 * Never throws; use it in `afterAll` (before `cleanupTempDirs()`).
 */
export async function stopAllBrokers(graceMs = 5000): Promise<void> {
  const all = [...brokers];
  brokers.clear();
  await Promise.all(
    all.map(async (b) => {
      try {
        await b.stop('SIGTERM', graceMs);
      } catch {
        /* stop() already SIGKILLed it */
      }
    }),
  );
}

/** Brokers started and not yet stopped. */
export function runningBrokers(): BrokerProcess[] {
  return [...brokers];
}
