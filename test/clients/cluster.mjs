/**
 * startCluster() (kfk's public API, the compiled dist/) in a process of its own, driven over stdin, so that tests
 * stop, kill and restart single brokers of a one-process cluster while third-party clients and the kfk CLI talk to
 * it over TCP (test/helpers/cluster-process.ts).
 *
 * Usage: node test/clients/cluster.mjs '<json options for startCluster()>'
 * Prints one JSON line when the cluster is up: {bootstrap, dataDir, brokers: [{id, port, bootstrap, running}]}.
 * Then reads commands, one a line, and answers each with one JSON line, in order:
 *   kill <id>      killBroker(id): the in-process kill -9 (registry session ended, sockets dropped, no flush)
 *   stop <id>      stopBroker(id): controlled shutdown, then a clean stop
 *   restart <id>   restartBroker(id)
 * answered {"done": "<command>", "brokers": [...]} or {"failed": "<command>", "error": "..."}.
 * End of stdin or SIGTERM stops the cluster (every broker cleanly) and exits 0.
 */
import readline from 'node:readline';
import { startCluster } from '../../dist/src/index.js';

const options = JSON.parse(process.argv[2] ?? '{}');
const cluster = await startCluster(options);
const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
print({ bootstrap: cluster.bootstrap, dataDir: cluster.dataDir, brokers: cluster.brokers });

let stopping = null;
const shutdown = () => {
  stopping ??= cluster.stop().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`stopping the cluster failed: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
  return stopping;
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

const actions = {
  kill: (id) => cluster.killBroker(id),
  stop: (id) => cluster.stopBroker(id),
  restart: (id) => cluster.restartBroker(id),
};
for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === '') continue;
  const [name, arg] = command.split(/\s+/);
  const action = actions[name];
  try {
    if (!action || !/^\d+$/.test(arg ?? '')) throw new Error(`unknown command '${command}' (expected kill|stop|restart <id>)`);
    await action(Number(arg));
    print({ done: command, brokers: cluster.brokers });
  } catch (err) {
    print({ failed: command, error: err.message });
  }
}
await shutdown();
