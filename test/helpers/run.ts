import { spawn, type ChildProcess } from 'node:child_process';
import { KFK_BIN, REPO_ROOT, SYSTEM_PYTHON } from './paths.js';

export interface RunOptions {
  /** Written to stdin, which is then closed. Without it stdin is closed at once (the child sees EOF). */
  input?: string | Buffer;
  /** Kill the process after this long (default 30 000 ms). */
  timeoutMs?: number;
  /** Merged over `process.env`; a key set to `undefined` is removed. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** On timeout resolve with `timedOut: true` instead of rejecting with `RunTimeoutError`. */
  allowTimeout?: boolean;
}

export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Raw stdout (for binary output). */
  stdoutBytes: Buffer;
  timedOut: boolean;
  durationMs: number;
  /** The command line, for messages. */
  command: string;
}

export class RunTimeoutError extends Error {
  constructor(public readonly result: RunResult, timeoutMs: number) {
    super(
      `Command timed out after ${timeoutMs}ms and was killed: ${result.command}\n` +
        `--- stdout (tail) ---\n${tail(result.stdout)}\n--- stderr (tail) ---\n${tail(result.stderr)}`,
    );
    this.name = 'RunTimeoutError';
  }
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep stdin open for `write()`/`end()` (default false: stdin is closed at once). */
  keepStdinOpen?: boolean;
  /** Copy the child's output to this process's stderr as it arrives (also on with `KFK_TEST_VERBOSE=1`). */
  echo?: boolean;
}

/** A long-running child process (e.g. a console consumer) whose output accumulates while the test runs. */
export interface BackgroundProcess {
  proc: ChildProcess;
  pid: number | undefined;
  command: string;
  stdout(): string;
  stderr(): string;
  stdoutBytes(): Buffer;
  /** Resolves once stdout (or stderr) contains `pattern`; rejects if the process exits first or on timeout. */
  waitForOutput(pattern: string | RegExp, opts?: { timeoutMs?: number; stream?: 'stdout' | 'stderr' }): Promise<void>;
  write(data: string | Buffer): void;
  /** Close stdin. */
  end(): void;
  /** Resolves with the final result when the process exits (never rejects). */
  exited: Promise<RunResult>;
  /** Whether the process has exited. */
  hasExited(): boolean;
  /** Send `signal` (default SIGTERM) to the process group; SIGKILL after `graceMs` (default 5000). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<RunResult>;
}

const live = new Set<BackgroundProcess>();

function mergeEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  if (env) {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
  }
  return merged;
}

function quote(a: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function tail(s: string, max = 4000): string {
  return s.length <= max ? s : `…${s.slice(s.length - max)}`;
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    // Children are spawned detached (their own process group) so that grandchildren die too.
    process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Start `cmd args` in the background. It is tracked; `stopAllProcesses()` ends leftovers. */
export function spawnProcess(cmd: string, args: readonly string[], opts: SpawnOptions = {}): BackgroundProcess {
  const command = [cmd, ...args].map(quote).join(' ');
  const started = Date.now();
  const proc = spawn(cmd, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: mergeEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const echo = opts.echo ?? process.env.KFK_TEST_VERBOSE === '1';
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outLen = 0;
  let errLen = 0;
  let exited = false;
  let spawnError: Error | undefined;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  proc.stdout!.on('data', (c: Buffer) => {
    out.push(c);
    outLen += c.length;
    if (echo) process.stderr.write(`[${cmd} ${proc.pid} out] ${c.toString()}`);
    notify();
  });
  proc.stderr!.on('data', (c: Buffer) => {
    err.push(c);
    errLen += c.length;
    if (echo) process.stderr.write(`[${cmd} ${proc.pid} err] ${c.toString()}`);
    notify();
  });
  // Writing to a child that already exited raises EPIPE on stdin; that is not a test failure by itself.
  proc.stdin!.on('error', () => {});
  if (!opts.keepStdinOpen) proc.stdin!.end();

  const joinOut = (): Buffer => (out.length === 1 ? out[0]! : Buffer.concat(out, outLen));
  const joinErr = (): string => Buffer.concat(err, errLen).toString('utf8');

  const exitedPromise = new Promise<RunResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (exited) return;
      exited = true;
      live.delete(handle);
      const bytes = joinOut();
      resolve({
        code,
        signal,
        stdout: bytes.toString('utf8'),
        stderr: joinErr() + (spawnError ? `\n[spawn error] ${spawnError.message}` : ''),
        stdoutBytes: bytes,
        timedOut: false,
        durationMs: Date.now() - started,
        command,
      });
      notify();
    };
    proc.on('error', (e) => {
      spawnError = e;
      // 'close' does not always follow a failed spawn (ENOENT).
      if (proc.pid === undefined) finish(null, null);
    });
    // 'close' fires after the stdio streams are drained, so the captured output is complete.
    proc.on('close', (code, signal) => finish(code, signal));
  });

  const handle: BackgroundProcess = {
    proc,
    pid: proc.pid,
    command,
    stdout: () => joinOut().toString('utf8'),
    stderr: joinErr,
    stdoutBytes: joinOut,
    hasExited: () => exited,
    exited: exitedPromise,
    write: (data) => {
      proc.stdin!.write(data);
    },
    end: () => {
      proc.stdin!.end();
    },
    waitForOutput: (pattern, o = {}) => {
      const timeoutMs = o.timeoutMs ?? 15_000;
      const stream = o.stream ?? 'stdout';
      const read = stream === 'stdout' ? handle.stdout : handle.stderr;
      const matches = (): boolean => {
        const text = read();
        return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
      };
      return new Promise<void>((resolve, reject) => {
        const cleanup = (): void => {
          listeners.delete(check);
          clearTimeout(timer);
        };
        const check = (): void => {
          if (matches()) {
            cleanup();
            resolve();
          } else if (exited) {
            cleanup();
            reject(
              new Error(
                `Process exited before its ${stream} matched ${String(pattern)}: ${command}\n` +
                  `--- stdout ---\n${tail(handle.stdout())}\n--- stderr ---\n${tail(handle.stderr())}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `Timed out after ${timeoutMs}ms waiting for ${stream} to match ${String(pattern)}: ${command}\n` +
                `--- stdout ---\n${tail(handle.stdout())}\n--- stderr ---\n${tail(handle.stderr())}`,
            ),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    stop: async (signal = 'SIGTERM', graceMs = 5000) => {
      if (!exited) {
        signalGroup(proc, signal);
        const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs);
        try {
          return await exitedPromise;
        } finally {
          clearTimeout(timer);
        }
      }
      return exitedPromise;
    },
  };
  if (!exited) live.add(handle);
  return handle;
}

/**
 * Run a command to completion and capture its output. Rejects with `RunTimeoutError` (message names the command
 * and shows the output tails) when it runs longer than `timeoutMs`, unless `allowTimeout` is set.
 * A non-zero exit code does NOT reject: check `code`.
 */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const bg = spawnProcess(cmd, args, {
    env: opts.env,
    cwd: opts.cwd,
    keepStdinOpen: opts.input !== undefined,
  });
  if (opts.input !== undefined) {
    bg.proc.stdin!.end(opts.input);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([bg.exited, timeout]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  const result = await bg.stop('SIGKILL', 0);
  const annotated: RunResult = {
    ...result,
    timedOut: true,
    stderr: `${result.stderr}\n[run] timed out after ${timeoutMs}ms; killed: ${result.command}\n`,
  };
  if (opts.allowTimeout) return annotated;
  throw new RunTimeoutError(annotated, timeoutMs);
}

/** Run the CLI: `node bin/kfk.js ...args` from the repo root. */
export function kfk(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [KFK_BIN, ...args], opts);
}

/** Start the CLI in the background (e.g. a console consumer). */
export function kfkSpawn(args: readonly string[], opts: SpawnOptions = {}): BackgroundProcess {
  return spawnProcess(process.execPath, [KFK_BIN, ...args], opts);
}

/** Run a Python script with the Debian interpreter (`/usr/bin/python3`), which sees kafka-python/confluent-kafka. */
export function python(scriptPath: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return run(SYSTEM_PYTHON, [scriptPath, ...args], {
    ...opts,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
  });
}

/** Run inline Python code (`/usr/bin/python3 -c code args...`). */
export function pythonCode(code: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return run(SYSTEM_PYTHON, ['-c', code, ...args], {
    ...opts,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
  });
}

/** Run kcat (librdkafka 2.0.2 on the Debian machines). */
export function kcat(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('kcat', args, opts);
}

/** Stop every background process still running (SIGTERM, then SIGKILL after `graceMs`). For `afterAll`. */
export async function stopAllProcesses(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop('SIGTERM', graceMs)));
}

// Last resort: never leave children behind when the test worker exits.
process.once('exit', () => {
  for (const p of live) signalGroup(p.proc, 'SIGKILL');
});
