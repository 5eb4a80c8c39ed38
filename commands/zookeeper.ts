/**
 * kfk zookeeper start [zookeeper.properties]   (zookeeper-server-start.sh)
 *
 * Runs the system's ZooKeeper (Apache's Java server, e.g. Debian's `zookeeper` package) in the
 * foreground with the settings of a zookeeper.properties file, as Kafka's script does: dataDir and
 * clientPort (defaults /tmp/zookeeper and 2181, Kafka's shipped values), and every other setting
 * passed through to the server's zoo.cfg. A file with `server.<N>=host:peerPort:electionPort` lines starts one
 * member of a replicated ensemble (ZooKeeper's QuorumPeerMain, as Kafka's script runs), whose id N must be in
 * <dataDir>/myid as ZooKeeper's documentation says. The server logs to standard output; kfk prints one line
 * when it answers: `started (ZooKeeper, clientPort=<port>, dataDir=<dir>)`.
 *
 * SIGTERM and SIGINT are forwarded to the server; when it stops because of them the command exits
 * 0, otherwise with the server's exit code. Without java or the ZooKeeper jars it prints
 * `Error: ZooKeeper is not installed (apt-get install zookeeper)` and exits 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { readPropertiesFile } from '../src/config/properties.js';
import { type RunningZooKeeper, ZooKeeperNotInstalledError, findZooKeeper, startZooKeeper } from '../src/registry/zookeeper-server.js';

const USAGE = 'Usage: kfk zookeeper start [zookeeper.properties]';

/** Kafka's config/zookeeper.properties. */
const DEFAULTS: Record<string, string> = {
  dataDir: '/tmp/zookeeper',
  clientPort: '2181',
  maxClientCnxns: '0',
  'admin.enableServer': 'false',
};

function fail(message: string): number {
  process.stderr.write(`Error: ${message}\n`);
  return 1;
}

/** `args` are the words after `kfk zookeeper`: ['start', file?]. Resolves with the exit code. */
export async function runZookeeper(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (sub !== 'start') {
    return fail(sub === undefined ? `missing command. ${USAGE}` : `unknown zookeeper command '${sub}' (expected start). ${USAGE}`);
  }
  let file: string | undefined;
  for (const a of rest) {
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (a === '-daemon' || a === '--daemon') return fail(`${a} is not supported; run it in the background with & or nohup`);
    if (a.startsWith('-')) return fail(`unknown option '${a}' for zookeeper start. ${USAGE}`);
    if (file !== undefined) return fail(`unexpected argument '${a}' (only one properties file is accepted)`);
    file = a;
  }

  let props: Record<string, string> = { ...DEFAULTS };
  if (file !== undefined) {
    try {
      props = await readPropertiesFile(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return fail(e.code === 'ENOENT' ? `file '${file}' does not exist` : `cannot read '${file}': ${e.message}`);
    }
  }
  for (const k of Object.keys(props)) props[k] = props[k]!.trim();

  const install = findZooKeeper();
  if (!install) return fail(new ZooKeeperNotInstalledError('zookeeper').message);

  const dataDir = resolve(props.dataDir || DEFAULTS.dataDir!);
  const portText = props.clientPort || DEFAULTS.clientPort!;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return fail(`invalid clientPort '${portText}'`);
  const host = props.clientPortAddress || undefined;

  // The generated zoo.cfg lives in a private temp dir, not in the user's dataDir.
  const cfgDir = mkdtempSync(join(tmpdir(), 'kfk-zookeeper-'));
  const cleanup = (): void => rmSync(cfgDir, { recursive: true, force: true });

  let signalled = false;
  let child: RunningZooKeeper['proc'] | null = null;
  const forward = (signal: NodeJS.Signals): void => {
    signalled = true;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const onTerm = (): void => forward('SIGTERM');
  const onInt = (): void => forward('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const unhook = (): void => {
    process.removeListener('SIGTERM', onTerm);
    process.removeListener('SIGINT', onInt);
  };

  let zk: RunningZooKeeper;
  try {
    zk = await startZooKeeper({
      dataDir,
      port,
      host,
      properties: props,
      configFile: join(cfgDir, 'zoo.cfg'),
      output: 'inherit',
      install,
      onSpawn: (proc) => {
        child = proc;
        if (signalled) proc.kill('SIGTERM');
      },
    });
  } catch (err) {
    unhook();
    cleanup();
    if (signalled) return 0;
    return fail((err as Error).message.split('\n')[0]!);
  }
  process.stdout.write(`started (ZooKeeper, clientPort=${port}, dataDir=${dataDir})\n`);

  const code = await zk.exited;
  unhook();
  cleanup();
  // 130 / 143: the JVM ended by the SIGINT / SIGTERM we forwarded.
  if (signalled && (code === 0 || code === 130 || code === 143)) return 0;
  return code;
}
