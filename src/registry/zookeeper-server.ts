/**
 * Run the system's ZooKeeper (Apache's Java server) for tests and for `kfk zookeeper start`.
 *
 * kfk does not ship ZooKeeper: it finds an installed one.
 *  - Debian/Ubuntu (`apt-get install zookeeper`): /usr/share/java/zookeeper.jar, whose manifest
 *    Class-Path names its dependencies (netty, jackson, slf4j-api, ...) in /usr/share/java, plus
 *    slf4j-simple.jar (from libslf4j-java, a dependency of the package) so the server can log.
 *  - An Apache tarball: $ZOOKEEPER_HOME (or /opt/zookeeper, /usr/local/zookeeper, Homebrew's
 *    libexec) with its jars in lib/ and its logging config in conf/.
 *  - KFK_ZOOKEEPER_CLASSPATH overrides the search (a java classpath).
 * Java is $JAVA_HOME/bin/java or `java` on the PATH.
 *
 * startZooKeeper() writes a zoo.cfg, spawns `java ... org.apache.zookeeper.server.ZooKeeperServerMain
 * zoo.cfg` (a standalone server) and resolves once the server answers `ruok` with `imok`. A config with
 * `server.<id>=host:peerPort:electionPort` lines is a member of a replicated ensemble, as in ZooKeeper's own
 * zkServer.sh and Kafka's zookeeper-server-start.sh: it runs QuorumPeerMain, and its id is in `<dataDir>/myid`
 * (written from the `myid` option, or left as the operator wrote it). `ruok` then says the server runs, not that
 * the ensemble has a quorum; zooKeeperMode() tells (leader, follower, or null while it has none).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';

import { formatProperties } from '../config/properties.js';

/** The one line users see when java or the ZooKeeper jars are missing. */
export const ZOOKEEPER_NOT_INSTALLED = 'ZooKeeper is not installed (apt-get install zookeeper)';

export class ZooKeeperNotInstalledError extends Error {
  override readonly name = 'ZooKeeperNotInstalledError';
  constructor(readonly missing: 'java' | 'zookeeper') {
    super(ZOOKEEPER_NOT_INSTALLED);
  }
}

export const ZOOKEEPER_MAIN_CLASS = 'org.apache.zookeeper.server.ZooKeeperServerMain';
/** The main class of an ensemble member (zoo.cfg with server.N lines). */
export const ZOOKEEPER_QUORUM_MAIN_CLASS = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';
export const ZOOKEEPER_CLI_CLASS = 'org.apache.zookeeper.ZooKeeperMain';

const DEBIAN_JAVA_DIR = '/usr/share/java';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    // a probe of the candidate locations: missing or not executable both mean "not this one"
    return false;
  }
}

/** The java launcher: $JAVA_HOME/bin/java, else `java` on the PATH; null if there is none. */
export function findJava(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.JAVA_HOME) {
    const j = join(env.JAVA_HOME, 'bin', 'java');
    if (isExecutable(j)) return j;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const j = join(dir, 'java');
    if (isExecutable(j)) return j;
  }
  return null;
}

function hasZooKeeperJar(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => /^zookeeper-\d[\w.-]*\.jar$/.test(f) || f === 'zookeeper.jar');
  } catch {
    // a probe: a directory that cannot be listed holds no jar we could use
    return false;
  }
}

/**
 * The java classpath of an installed ZooKeeper server, or null if none is found. See the module
 * comment for the places searched.
 */
export function findZooKeeperClasspath(env: NodeJS.ProcessEnv = process.env): string | null {
  const override = env.KFK_ZOOKEEPER_CLASSPATH;
  if (override && override.trim() !== '') return override.trim();

  // Debian / Ubuntu: the manifest of zookeeper.jar carries the dependencies' Class-Path.
  const debianJar = join(DEBIAN_JAVA_DIR, 'zookeeper.jar');
  if (existsSync(debianJar) && existsSync(join(DEBIAN_JAVA_DIR, 'zookeeper-jute.jar'))) {
    const cp = [debianJar];
    // A logging backend for slf4j (libslf4j-java); without one the server logs nothing.
    const simple = join(DEBIAN_JAVA_DIR, 'slf4j-simple.jar');
    if (existsSync(simple)) cp.push(simple);
    return cp.join(delimiter);
  }

  // Apache's binary tarball (and Homebrew, which installs it under libexec).
  const homes = [
    env.ZOOKEEPER_HOME,
    env.ZOOKEEPER_PREFIX,
    '/opt/zookeeper',
    '/usr/local/zookeeper',
    '/opt/homebrew/opt/zookeeper/libexec',
    '/usr/local/opt/zookeeper/libexec',
    '/usr/share/zookeeper',
  ].filter((h): h is string => typeof h === 'string' && h !== '');
  for (const home of homes) {
    const lib = join(home, 'lib');
    if (hasZooKeeperJar(lib) || hasZooKeeperJar(home)) {
      const cp: string[] = [];
      if (existsSync(join(home, 'conf'))) cp.push(join(home, 'conf'));
      cp.push(join(home, '*'));
      if (existsSync(lib)) cp.push(join(lib, '*'));
      return cp.join(delimiter);
    }
  }
  return null;
}

export interface ZooKeeperInstall {
  java: string;
  classpath: string;
}

/** java and the ZooKeeper classpath, or null if either is missing. */
export function findZooKeeper(env: NodeJS.ProcessEnv = process.env): ZooKeeperInstall | null {
  const java = findJava(env);
  const classpath = findZooKeeperClasspath(env);
  return java && classpath ? { java, classpath } : null;
}

/** Like findZooKeeper() but throws ZooKeeperNotInstalledError. */
export function requireZooKeeper(env: NodeJS.ProcessEnv = process.env): ZooKeeperInstall {
  const java = findJava(env);
  if (!java) throw new ZooKeeperNotInstalledError('java');
  const classpath = findZooKeeperClasspath(env);
  if (!classpath) throw new ZooKeeperNotInstalledError('zookeeper');
  return { java, classpath };
}

/**
 * Send a four-letter-word command (ruok, srvr, ...) and return the whole reply ('' if the server
 * closes without answering). Rejects on connection errors and after timeoutMs.
 */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to '${word}' from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.end(word));
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolvePromise(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** Whether something accepts TCP connections on host:port. */
function portAcceptsConnections(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const sock = net.connect({ host, port });
    const done = (v: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolvePromise(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export interface StartZooKeeperOptions {
  /** Snapshot and transaction log directory (created if missing). */
  dataDir: string;
  /** clientPort. */
  port: number;
  /** clientPortAddress: the address to listen on (default: all addresses, as ZooKeeper's default). */
  host?: string;
  /** Where to write the generated zoo.cfg (default: <dataDir>/zoo.cfg). */
  configFile?: string;
  /**
   * More zoo.cfg settings (e.g. a zookeeper.properties file's), applied over the defaults; dataDir,
   * clientPort and clientPortAddress come from the options above. ruok and srvr are always added
   * to 4lw.commands.whitelist (readiness is checked with ruok).
   */
  properties?: Record<string, string>;
  /**
   * 'file' (default): the server logs WARN and above to <dataDir>/zookeeper.log; its standard
   * output and error are kept for error messages. 'inherit': it logs INFO to this process's
   * standard output (as zookeeper-server-start.sh does), standard error inherited too.
   */
  output?: 'file' | 'inherit';
  /** slf4j level for the server's log (default: warn for 'file', info for 'inherit'). */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** Give up (and kill the server) if it does not answer ruok within this time. Default 60 s. */
  startTimeoutMs?: number;
  /** Extra JVM arguments (default heap: -Xmx512m). */
  jvmArgs?: string[];
  /** java and classpath (default: findZooKeeper()). */
  install?: ZooKeeperInstall;
  /** Called right after the JVM is spawned (before it is ready), e.g. to forward signals. */
  onSpawn?: (proc: ChildProcess) => void;
  /**
   * For an ensemble member (server.N lines in `properties`): this server's id N, written to <dataDir>/myid.
   * Without it, <dataDir>/myid must already exist.
   */
  myid?: number;
}

export interface RunningZooKeeper {
  port: number;
  /** The address clients should use (host, or 127.0.0.1). */
  host: string;
  /** host:port, for ZooKeeperRegistry.connect(). */
  connectString: string;
  dataDir: string;
  configFile: string;
  /** The server's log file when output is 'file'. */
  logFile: string | null;
  proc: ChildProcess;
  /** Resolves with the exit code (or 128 + signal number) when the JVM exits. */
  exited: Promise<number>;
  /** SIGTERM, then SIGKILL after timeoutMs (default 10 s); resolves once the JVM has exited. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL (a crash); resolves once the JVM has exited. */
  kill(): Promise<void>;
}

/** JVMs started by this process: killed if it exits without stopping them (no orphans). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function trackChild(proc: ChildProcess): void {
  live.add(proc);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of live) {
        try {
          p.kill('SIGKILL');
        } catch {
          // the process is exiting: a child that cannot be signalled is already gone, and nothing else can be done
        }
      }
    });
  }
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** Build the zoo.cfg settings startZooKeeper() writes. */
export function zooKeeperConfig(opts: Pick<StartZooKeeperOptions, 'dataDir' | 'port' | 'host' | 'properties'>): Record<string, string> {
  const cfg: Record<string, string> = {
    tickTime: '2000',
    'admin.enableServer': 'false',
    ...(opts.properties ?? {}),
  };
  cfg.dataDir = resolve(opts.dataDir);
  cfg.clientPort = String(opts.port);
  if (opts.host !== undefined) cfg.clientPortAddress = opts.host;
  const whitelist = (cfg['4lw.commands.whitelist'] ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w !== '');
  if (!whitelist.includes('*')) {
    for (const w of ['ruok', 'srvr']) if (!whitelist.includes(w)) whitelist.push(w);
  }
  cfg['4lw.commands.whitelist'] = whitelist.join(',');
  return cfg;
}

/** The server ids of an ensemble's `server.<id>` lines (empty for a standalone server). */
export function ensembleServerIds(cfg: Record<string, string>): number[] {
  return Object.keys(cfg)
    .map((k) => /^server\.(\d+)$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

/**
 * The role a server answers `srvr` with: 'leader' or 'follower' in an ensemble with a quorum, 'standalone', or null
 * when it is not serving (an ensemble member without a quorum answers "This ZooKeeper instance is not currently
 * serving requests") or does not answer.
 */
export async function zooKeeperMode(host: string, port: number, timeoutMs = 2000): Promise<'leader' | 'follower' | 'standalone' | 'observer' | null> {
  try {
    const m = /^Mode: (\w+)/m.exec(await fourLetterWord(host, port, 'srvr', timeoutMs));
    const mode = m?.[1];
    return mode === 'leader' || mode === 'follower' || mode === 'standalone' || mode === 'observer' ? mode : null;
  } catch {
    // not listening (stopped, or not started yet): not serving
    return null;
  }
}

/** Spawn the system's ZooKeeper and wait until it answers `ruok` with `imok`. */
export async function startZooKeeper(opts: StartZooKeeperOptions): Promise<RunningZooKeeper> {
  const install = opts.install ?? requireZooKeeper();
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new Error(`invalid ZooKeeper clientPort ${String(opts.port)}`);
  }
  const dataDir = resolve(opts.dataDir);
  const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
  if (await portAcceptsConnections(host, opts.port)) {
    throw new Error(`port ${opts.port} is already in use (is ZooKeeper already running?)`);
  }
  mkdirSync(dataDir, { recursive: true });
  const configFile = resolve(opts.configFile ?? join(dataDir, 'zoo.cfg'));
  mkdirSync(dirname(configFile), { recursive: true });
  const cfg = zooKeeperConfig({ ...opts, dataDir });
  const ensemble = ensembleServerIds(cfg);
  if (ensemble.length > 0) {
    const myidFile = join(dataDir, 'myid');
    if (opts.myid !== undefined) {
      if (!ensemble.includes(opts.myid)) throw new Error(`myid ${opts.myid} is not one of the ensemble's servers (server.${ensemble.join(', server.')})`);
      writeFileSync(myidFile, `${opts.myid}\n`);
    } else if (!existsSync(myidFile)) {
      throw new Error(`${myidFile} is missing: an ensemble member (server.N lines) needs its id N there, as ZooKeeper does`);
    }
  }
  writeFileSync(configFile, formatProperties(cfg, [' Written by kfk (src/registry/zookeeper-server.ts)']) + '\n');

  const output = opts.output ?? 'file';
  const logFile = output === 'file' ? join(dataDir, 'zookeeper.log') : null;
  const level = opts.logLevel ?? (output === 'file' ? 'warn' : 'info');
  const args = [
    ...(opts.jvmArgs ?? ['-Xmx512m']),
    '-Djava.awt.headless=true',
    // slf4j-simple settings (ignored by other logging backends).
    `-Dorg.slf4j.simpleLogger.defaultLogLevel=${level}`,
    `-Dorg.slf4j.simpleLogger.logFile=${logFile ?? 'System.out'}`,
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss,SSS',
    '-Dorg.slf4j.simpleLogger.showShortLogName=true',
    '-cp',
    install.classpath,
    ensemble.length > 0 ? ZOOKEEPER_QUORUM_MAIN_CLASS : ZOOKEEPER_MAIN_CLASS,
    configFile,
  ];
  const proc = spawn(install.java, args, {
    stdio: output === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    cwd: dataDir,
  });
  trackChild(proc);

  // Keep the tail of the JVM's own output for error messages.
  let tail = '';
  const keep = (b: Buffer): void => {
    tail = (tail + b.toString('utf8')).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);

  let exitCode: number | null = null;
  const exited = new Promise<number>((resolveExit) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      exitCode = code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0);
      resolveExit(exitCode);
    });
    proc.once('error', (err) => {
      live.delete(proc);
      tail += `\n${err.message}`;
      exitCode = 127;
      resolveExit(exitCode);
    });
  });
  opts.onSpawn?.(proc);

  const waitExit = (ms: number): Promise<boolean> =>
    new Promise<boolean>((r) => {
      const timer = setTimeout(() => r(false), ms);
      void exited.then(() => {
        clearTimeout(timer);
        r(true);
      });
    });
  const stop = async (timeoutMs = 10_000): Promise<void> => {
    if (exitCode !== null) return;
    proc.kill('SIGTERM');
    if (await waitExit(timeoutMs)) return;
    proc.kill('SIGKILL');
    await exited;
  };
  const kill = async (): Promise<void> => {
    if (exitCode !== null) return;
    proc.kill('SIGKILL');
    await exited;
  };

  const failure = (what: string): Error => {
    let detail = tail.trim();
    if (logFile && existsSync(logFile)) {
      try {
        detail = `${detail}\n${readTail(logFile)}`.trim();
      } catch {
        // the log only adds detail to the error built here; without it the error still says what failed
      }
    }
    const lastLines = detail.split('\n').filter((l) => l.trim() !== '').slice(-5).join(' | ');
    return new Error(`ZooKeeper on port ${opts.port} ${what}${lastLines ? `: ${lastLines}` : ''}`);
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exitCode !== null) throw failure(`exited with code ${exitCode} before it was ready`);
    try {
      const reply = await fourLetterWord(host, opts.port, 'ruok', 1000);
      if (reply.trim() === 'imok') break;
    } catch {
      // not listening yet: polled again until the deadline below, which reports the failure
    }
    if (Date.now() >= deadline) {
      await kill();
      throw failure(`did not answer ruok within ${opts.startTimeoutMs ?? 60_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Another server might have answered; make sure ours is still the one running.
  if (exitCode !== null) throw failure(`exited with code ${exitCode} before it was ready`);

  return {
    port: opts.port,
    host,
    connectString: `${host.includes(':') ? `[${host}]` : host}:${opts.port}`,
    dataDir,
    configFile,
    logFile,
    proc,
    exited,
    stop,
    kill,
  };
}

/** The last `bytes` of a file (only read on failures). */
function readTail(file: string, bytes = 4000): string {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const len = Math.min(bytes, size);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
