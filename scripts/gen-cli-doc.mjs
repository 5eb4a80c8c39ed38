#!/usr/bin/env node
// Writes docs/cli.md from the CLI's own commander definitions (dist/commands/cli.js: build first) and the examples
// below, so every command and flag is listed with what --help says. `--check` fails when docs/cli.md differs
// (test/unit/cli-doc.test.ts checks the same thing from the source). Usage: npm run build && node scripts/gen-cli-doc.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { fullProgram } = await import(join(root, 'dist/commands/cli.js'));

const B = '--bootstrap-server localhost:9092';
/** Examples per command path ("perf produce"); every command needs at least one. */
const EXAMPLES = {
  server: [
    'kfk server start',
    'kfk server start config/server.properties --override broker.id=1 --override admin.listeners=http://localhost:9644',
    'kfk server start --brokers 3 --override log.dirs=/tmp/kfk-cluster',
    'kfk server stop',
  ],
  zookeeper: ['kfk zookeeper start config/zookeeper.properties'],
  topics: [
    `kfk topics ${B} --create --topic orders --partitions 3 --replication-factor 1 --config retention.ms=86400000`,
    `kfk topics ${B} --list`,
    `kfk topics ${B} --describe --topic orders`,
    `kfk topics ${B} --describe --under-replicated-partitions`,
    `kfk topics ${B} --alter --topic orders --partitions 6`,
    `kfk topics ${B} --delete --topic orders`,
  ],
  'leader-election': [`kfk leader-election ${B} --election-type preferred --all-topic-partitions`, `kfk leader-election ${B} --election-type unclean --topic orders --partition 0`],
  'reassign-partitions': [
    `kfk reassign-partitions ${B} --generate --topics-to-move-json-file move.json --broker-list 1,2`,
    `kfk reassign-partitions ${B} --execute --reassignment-json-file plan.json`,
    `kfk reassign-partitions ${B} --verify --reassignment-json-file plan.json`,
  ],
  configs: [
    `kfk configs ${B} --describe --entity-type topics --entity-name orders`,
    `kfk configs ${B} --alter --entity-type topics --entity-name orders --add-config retention.ms=3600000,cleanup.policy=compact`,
    `kfk configs ${B} --alter --entity-type brokers --entity-default --add-config log.retention.ms=604800000`,
    `kfk configs ${B} --describe --entity-type brokers --entity-name 0 --all`,
    `kfk configs ${B} --alter --entity-type users --entity-name alice --add-config 'SCRAM-SHA-512=[password=alice-secret]'`,
  ],
  acls: [
    `kfk acls ${B} --add --allow-principal User:alice --operation Read --topic orders --group billing`,
    `kfk acls ${B} --add --allow-principal User:bob --producer --topic orders`,
    `kfk acls ${B} --list --topic orders`,
  ],
  'console-producer': [
    `printf 'hello\\nworld\\n' | kfk console-producer ${B} --topic orders`,
    `printf 'k1:v1\\n' | kfk produce ${B} --topic orders --property parse.key=true --property key.separator=:`,
  ],
  'console-consumer': [
    `kfk console-consumer ${B} --topic orders --from-beginning --max-messages 10`,
    `kfk consume ${B} --topic orders --group billing --property print.key=true --property print.offset=true`,
    `kfk consume ${B} --topic counts --from-beginning --value-deserializer org.apache.kafka.common.serialization.LongDeserializer --skip-message-on-error`,
  ],
  'consumer-groups': [
    `kfk consumer-groups ${B} --list`,
    `kfk consumer-groups ${B} --describe --group billing`,
    `kfk consumer-groups ${B} --describe --all-groups --members --verbose`,
    `kfk consumer-groups ${B} --reset-offsets --group billing --topic orders --to-earliest --execute`,
    `kfk consumer-groups ${B} --reset-offsets --group billing --all-topics --by-duration PT1H --dry-run --export > offsets.csv`,
    `kfk consumer-groups ${B} --reset-offsets --group billing --from-file offsets.csv --execute`,
    `kfk consumer-groups ${B} --delete --group billing`,
  ],
  'dump-log': ['kfk dump-log --files kfk-data/orders-0/00000000000000000000.log --print-data-log', 'kfk dump-log --files kfk-data/orders-0/00000000000000000000.index --verify-index-only'],
  transactions: [`kfk transactions ${B} list`],
  'transactions list': [`kfk transactions ${B} list`],
  'transactions describe': [`kfk transactions ${B} describe --transactional-id payments-tx`],
  'transactions describe-producers': [`kfk transactions ${B} describe-producers --topic orders --partition 0`],
  'transactions abort': [`kfk transactions ${B} abort --topic orders --partition 0 --start-offset 42`],
  'transactions find-hanging': [`kfk transactions ${B} find-hanging --broker-id 0`],
  'get-offsets': [`kfk get-offsets ${B} --topic orders`, `kfk get-offsets ${B} --topic-partitions 'orders:0-2' --time -2`, `kfk get-offsets ${B} --topic orders --time 1767225600000`],
  'delete-records': [
    `echo '{"partitions":[{"topic":"orders","partition":0,"offset":100}],"version":1}' > delete.json`,
    `kfk delete-records ${B} --offset-json-file delete.json`,
  ],
  'log-dirs': [`kfk log-dirs ${B} --describe`, `kfk log-dirs ${B} --describe --broker-list 0,1 --topic-list orders`],
  'broker-api-versions': [`kfk broker-api-versions ${B}`],
  'verifiable-producer': [`kfk verifiable-producer ${B} --topic orders --max-messages 1000 --throughput 100`],
  'verifiable-consumer': [`kfk verifiable-consumer ${B} --topic orders --group-id verify --max-messages 1000 --verbose`],
  cluster: [`kfk cluster ${B}`, `kfk cluster ${B} --include-internal --no-color`],
  console: [`kfk console ${B}`, `kfk console ${B} --command-config client.properties --port 9645 --host 0.0.0.0 --allowed-host kfk.internal`],
  completion: ['source <(kfk completion bash)', 'source <(kfk completion zsh)', 'kfk completion fish > ~/.config/fish/completions/kfk.fish'],
  perf: [`kfk perf produce ${B} --topic orders --num-records 1000000 --record-size 100 --throughput -1`],
  'perf produce': [
    `kfk perf produce ${B} --topic orders --num-records 1000000 --record-size 100 --throughput -1 --producer-props acks=1 linger.ms=5`,
  ],
  'perf consume': [`kfk perf consume ${B} --topic orders --messages 1000000`],
  'perf e2e': [`kfk perf e2e ${B} --topic orders --num-records 10000 --producer-acks 1 --record-size 100`],
};

/** What server and zookeeper parse themselves (they pass their arguments through commander). */
const PASS_THROUGH = {
  server: [
    ['start [server.properties]', 'run a broker in the foreground; prints `started (kfk broker id=<id>, listeners=<...>)` when ready; SIGTERM / SIGINT shut it down cleanly'],
    ['stop', 'stop the brokers started on this machine (kafka-server-stop.sh)'],
    ['--override <key=value>', 'a broker setting, winning over the file (repeatable); `admin.listeners=http://host:port` turns on /metrics and /health (docs/metrics.md)'],
    ['--brokers <n>', 'run brokers 0..n-1 in this process on consecutive ports: a cluster for development'],
    ['--ports <p0,p1,...>', 'with --brokers: the port of each broker'],
  ],
  zookeeper: [['start [zookeeper.properties]', "run the system's ZooKeeper in the foreground (zookeeper-server-start.sh)"]],
};

const esc = (s) => s.replace(/\|/g, '\\|');

function section(cmd, path) {
  const full = path ? `${path} ${cmd.name()}` : cmd.name();
  const out = [];
  const aliases = cmd.aliases();
  out.push(`### kfk ${full}`, '');
  out.push(`${cmd.description()}.${aliases.length > 0 ? ` Alias: ${aliases.map((a) => `\`kfk ${a}\``).join(', ')}.` : ''}`, '');
  const examples = EXAMPLES[full];
  if (!examples) throw new Error(`no example for kfk ${full}: add one to scripts/gen-cli-doc.mjs`);
  out.push('```sh', ...examples, '```', '');
  const rows = [];
  for (const [flag, text] of PASS_THROUGH[full] ?? []) rows.push(`| \`${flag}\` | ${esc(text)} |`);
  for (const a of cmd.registeredArguments ?? []) {
    if (PASS_THROUGH[full]) continue;
    rows.push(`| \`${a.required ? `<${a.name()}>` : `[${a.name()}]`}\` | ${esc(a.description || 'argument')} |`);
  }
  for (const o of cmd.options) {
    if (o.hidden) continue;
    rows.push(`| \`${o.flags}\` | ${esc(o.description)} |`);
  }
  if (rows.length > 0) out.push('| flag | meaning |', '|---|---|', ...rows, '');
  for (const sub of cmd.commands) out.push(...section(sub, full));
  return out;
}

const program = fullProgram();
const lines = [
  '# kfk command line',
  '',
  '<!-- Generated by scripts/gen-cli-doc.mjs from the commander definitions in commands/cli.ts: edit those (and the',
  "     examples in the script), then `npm run build && node scripts/gen-cli-doc.mjs`. test/unit/cli-doc.test.ts checks that",
  '     every command and flag is here. -->',
  '',
  "Every command mirrors one of Kafka's shell scripts flag for flag (the contract is `../shared/docs/cli.md`): what a",
  "Kafka script takes, kfk takes with the same meaning, and prints Kafka's output shape, so scripts written for Kafka's",
  "tools work unchanged. A few commands are kfk's own (`cluster`, `completion`, `perf e2e`'s flag form).",
  '',
  '## Common behaviour',
  '',
  '- `--bootstrap-server host:port[,host:port]` (default `localhost:9092`; `bootstrap.servers` in a `--command-config`',
  '  file works too) on every client command; `--command-config file.properties` for `security.protocol`, `sasl.*`,',
  '  `ssl.*` and `client.id` (docs/security.md).',
  "- Exit code 0 on success, 1 on a user error or a failed operation, with one line `Error: ...` on standard error; a",
  '  stack trace only with `--debug` or `KFK_DEBUG=1`.',
  '- Colour, tables and progress lines only on a terminal: piped output is exactly the plain Kafka shape. `NO_COLOR=1`',
  '  or `--no-color` (anywhere on the line) turns colour off on a terminal too. Progress goes to standard error.',
  '- `kfk --version` (`-V`), `kfk --help`, `kfk help <command>` and `kfk <command> --help`.',
  '',
  '| global flag | meaning |',
  '|---|---|',
  ...program.options.map((o) => `| \`${o.flags}\` | ${esc(o.description)} |`),
  '',
  '## Commands',
  '',
  '| command | what it does |',
  '|---|---|',
  ...program.commands.map((c) => `| [\`kfk ${c.name()}\`](#kfk-${c.name()}) | ${esc(c.description())} |`),
  '',
  ...program.commands.flatMap((c) => section(c, '')),
];
const text = `${lines.join('\n').replace(/\n+$/, '')}\n`;
const target = join(root, 'docs/cli.md');
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    /* missing */
  }
  if (current !== text) {
    console.error('docs/cli.md is out of date: run npm run build && node scripts/gen-cli-doc.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
