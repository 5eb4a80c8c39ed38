/**
 * The `kfk` command line: flag definitions for every command (commander), with each command's module
 * imported only when that command runs, so `kfk --version` and `kfk --help` cost little more than Node's
 * start-up. The flag contract is docs/cli.md; Kafka's shell scripts are the model.
 *
 * Errors: one line on stderr (`Error: ...`), exit 1; stack traces only with --debug or KFK_DEBUG=1.
 *
 * This module is the entry point only (bin/kfk.js calls main()); helpers the command modules share are in
 * common.ts, so no command module imports this one.
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError, collect, type Opts } from './common.js';

// node:fs through getBuiltinModule (Node 22.3+) rather than an import, which would build node:fs's ESM facade and
// with it load the promises API: start-up time (lean-builtins.ts says more).
const { readFileSync } = process.getBuiltinModule?.('node:fs') ?? (await import('node:fs'));

function useColor(stream: NodeJS.WriteStream): boolean {
  const noColor = process.env.NO_COLOR;
  if (noColor !== undefined && noColor !== '') return false;
  return stream.isTTY === true;
}

function debugEnabled(argv: readonly string[]): boolean {
  const env = process.env.KFK_DEBUG;
  return (env !== undefined && env !== '' && env !== '0' && env !== 'false') || argv.includes('--debug');
}

/** The one line printed for an error (without the `Error: ` prefix). */
export function errorMessage(err: unknown): string {
  if (err instanceof CliError) return err.message;
  const e = err as (Error & { code?: string }) | undefined;
  let msg = e && typeof e.message === 'string' ? e.message : String(err);
  msg = msg.split('\n')[0]!.trim();
  if (e?.name === 'ConnectionError' && /^no broker at /.test(msg) && e.code === 'ECONNREFUSED') {
    msg += '. Start one with: kfk server start';
  }
  return msg || String(err);
}

function printError(err: unknown, argv: readonly string[]): void {
  const prefix = useColor(process.stderr) ? '\u001b[31mError:\u001b[39m' : 'Error:';
  process.stderr.write(`${prefix} ${errorMessage(err)}\n`);
  if (debugEnabled(argv) && err instanceof Error && err.stack && !(err instanceof CliError)) {
    process.stderr.write(`${err.stack}\n`);
  }
}

function packageVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kfk' && pkg.version) return pkg.version;
    } catch {
      /* try the next location */
    }
  }
  return '0.0.0';
}

// ---------------------------------------------------------------------------------------------------
// Program

type Runner = (opts: Opts, cmd: Command) => Promise<number>;

interface CommandState {
  code: number;
  /** Whether the process may be ended once the command returns (not for a running server). */
  forceExit: boolean;
}

/** Every command name and alias (defining all of them is only needed for help, suggestions and errors). */
const COMMAND_NAMES = new Set(['server', 'zookeeper', 'topics', 'configs', 'acls', 'console-producer', 'produce', 'console-consumer', 'consume', 'consumer-groups', 'dump-log', 'perf', 'leader-election', 'reassign-partitions', 'transactions', 'get-offsets', 'delete-records', 'log-dirs', 'broker-api-versions', 'verifiable-producer', 'verifiable-consumer', 'cluster', 'completion', 'console']);

function buildProgram(state: CommandState, argv: readonly string[]): Command {
  // Start-up: commander's work grows with every option defined, so only the command being run is defined (all of them
  // for `kfk --help`, `kfk help ...` or an unknown command, whose suggestion needs the others).
  const only = argv[0] !== undefined && COMMAND_NAMES.has(argv[0]) ? argv[0] : undefined;
  const want = (name: string): boolean => only === undefined || only === name;
  const program = new Command('kfk');
  program
    .description('A Kafka-compatible broker and the Kafka shell tools, in TypeScript.')
    .version(packageVersion(), '-V, --version', 'print the kfk version')
    .option('--debug', 'print stack traces on errors (or set KFK_DEBUG=1)')
    .option('--no-color', 'no colour even on a terminal (or set NO_COLOR); piped output never has any')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => {
        const line = str.trim().split('\n')[0]!.replace(/^error:\s*/i, '');
        const prefix = useColor(process.stderr) ? '\u001b[31mError:\u001b[39m' : 'Error:';
        write(`${prefix} ${line}\n`);
      },
    })
    .addHelpText(
      'after',
      '\nExamples:\n  kfk server start\n  kfk topics --bootstrap-server localhost:9092 --create --topic test --partitions 2\n' +
        "  printf 'hello\\nworld\\n' | kfk console-producer --bootstrap-server localhost:9092 --topic test\n" +
        '  kfk console-consumer --bootstrap-server localhost:9092 --topic test --from-beginning\n' +
        '  kfk perf produce --bootstrap-server localhost:9092 --topic test --num-records 1000000 --record-size 100 --throughput -1\n',
    );

  const action =
    (load: () => Promise<Runner>, forceExit = true) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const run = await load();
      state.forceExit = forceExit;
      state.code = await run(cmd.opts(), cmd);
    };

  if (want('server')) {
    // server: arguments are passed through to commands/server.ts, which parses them itself.
    program
      .command('server')
      .description('start or stop a kfk broker (kafka-server-start.sh / kafka-server-stop.sh)')
      .usage('start [server.properties] [--override key=value ...] | stop')
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .passThroughOptions()
      .argument('[args...]')
      .action(async (args: string[] = []) => {
        state.forceExit = false;
        const { runServer } = await import('./server.js');
        state.code = await runServer(args);
      });
  }

  if (want('zookeeper')) {
    // zookeeper: runs the system's ZooKeeper in the foreground (zookeeper-server-start.sh).
    program
      .command('zookeeper')
      .description("run the system's ZooKeeper for a cluster's registry (zookeeper-server-start.sh)")
      .usage('start [zookeeper.properties]')
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .passThroughOptions()
      .argument('[args...]')
      .action(async (args: string[] = []) => {
        state.forceExit = false;
        const { runZookeeper } = await import('./zookeeper.js');
        state.code = await runZookeeper(args);
      });
  }

  if (want('topics')) {
    // topics
    program
      .command('topics')
      .description('create, list, describe, alter and delete topics (kafka-topics.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster', undefined)
      .option('--zookeeper <connect>', 'find the cluster through ZooKeeper (host:port[/chroot])')
      .option('--command-config <file>', 'client properties file')
      .option('--create', 'create a topic')
      .option('--list', 'list topics, one per line, sorted')
      .option('--describe', 'describe topics (all, or --topic)')
      .option('--delete', 'delete a topic')
      .option('--alter', 'add partitions to a topic (with --partitions)')
      .option('--topic <topic>', 'the topic name')
      .option('--partitions <n>', 'number of partitions (default: the broker\'s num.partitions)')
      .option('--replication-factor <n>', 'replication factor (default: the broker\'s default.replication.factor)')
      .option('--replica-assignment <list>', 'manual assignment: broker ids per partition, e.g. 0:1,1:2')
      .option('--config <name=value>', 'topic config override (repeatable)', collect)
      .option('--if-not-exists', 'with --create: do nothing if the topic exists')
      .option('--if-exists', 'with --delete/--alter/--describe: do nothing if the topic does not exist')
      .option('--exclude-internal', 'leave internal topics out of --list / --describe')
      .option('--under-replicated-partitions', 'with --describe: only partitions whose ISR is smaller than the replica set')
      .option('--unavailable-partitions', 'with --describe: only partitions without a live leader')
      .option('--under-min-isr-partitions', 'with --describe: only partitions whose ISR is smaller than min.insync.replicas (or without a leader)')
      .option('--at-min-isr-partitions', 'with --describe: only partitions whose ISR is exactly min.insync.replicas')
      .action(action(async () => (await import('./topics.js')).runTopics));
  }

  if (want('console')) {
    // console: the web console on its own port (docs/console.md)
    program
      .command('console')
      .description('serve the web console (brokers, topics, groups and lag, message browser) for a cluster')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*, client.id)')
      .option('--port <port>', 'HTTP port to serve on (0: any free port)', '9645')
      .option('--host <host>', 'interface to listen on (the console has no login: keep it local)', '127.0.0.1')
      .option('--allowed-host <name>', 'a host name the console is reached by, besides IP addresses, localhost and this machine\'s name (repeatable)', collect)
      .action(action(async () => (await import('./console.js')).runConsole));
  }

  if (want('leader-election')) {
    // leader-election
    program
      .command('leader-election')
      .description('elect preferred or unclean leaders through the controller (kafka-leader-election.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--admin.config <file>', 'admin client properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --admin.config wins')
      .option('--election-type <type>', 'preferred or unclean')
      .option('--topic <topic>', 'the topic of the partition to elect (with --partition)')
      .option('--partition <n>', 'the partition to elect (with --topic)')
      .option('--all-topic-partitions', 'every partition that needs the election')
      .option('--path-to-json-file <file>', 'partitions from a file: {"partitions":[{"topic":"t","partition":0}]}')
      .action(action(async () => (await import('./leader-election.js')).runLeaderElection));
  }

  if (want('reassign-partitions')) {
    // reassign-partitions
    program
      .command('reassign-partitions')
      .description('move partitions between brokers (kafka-reassign-partitions.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'admin client properties file')
      .option('--generate', 'propose an assignment of --topics-to-move-json-file over --broker-list')
      .option('--execute', 'start the reassignment in --reassignment-json-file')
      .option('--verify', 'report whether the reassignment in --reassignment-json-file is complete')
      .option('--cancel', 'cancel the ongoing reassignments in --reassignment-json-file')
      .option('--list', 'list the ongoing reassignments')
      .option('--topics-to-move-json-file <file>', '{"topics":[{"topic":"t"}],"version":1}')
      .option('--broker-list <ids>', 'brokers to assign to, e.g. 0,1,2 (with --generate)')
      .option('--reassignment-json-file <file>', '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}')
      .option('--additional', 'with --execute: start even if reassignments are ongoing')
      .option('--disable-rack-aware', 'accepted (kfk assigns without racks)')
      .option('--throttle <bytes>', 'not supported (kfk has no replication throttles)')
      .option('--replica-alter-log-dirs-throttle <bytes>', 'not supported')
      .option('--timeout <ms>', 'accepted for compatibility')
      .action(action(async () => (await import('./reassign-partitions.js')).runReassignPartitions));
  }

  if (want('configs')) {
    // configs
    program
      .command('configs')
      .description('describe and alter the configs of topics and brokers, SCRAM credentials and quotas of users and client ids (kafka-configs.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'client properties file')
      .option('--describe', 'list the configs of an entity (the dynamic ones; all with --all)')
      .option('--alter', 'change the configs of an entity (with --add-config / --delete-config)')
      .option('--entity-type <type>', 'topics, brokers, users or clients (users and clients together: a client id of a user)', collect)
      .option('--entity-name <name>', 'topic name, broker id, user or client id (one per --entity-type)', collect)
      .option('--entity-default', 'the default entity (brokers: cluster-wide; users, clients: <default>)')
      .option('--user <user>', 'same as --entity-type users --entity-name <user>')
      .option('--client <client-id>', 'same as --entity-type clients --entity-name <client-id>')
      .option('--user-defaults', 'the default user (quotas)')
      .option('--client-defaults', 'the default client id (quotas)')
      .option('--topic <topic>', 'same as --entity-type topics --entity-name <topic>')
      .option('--broker <id>', 'same as --entity-type brokers --entity-name <id>')
      .option('--broker-defaults', 'same as --entity-type brokers --entity-default')
      .option('--all', 'with --describe: every config, not only the dynamic ones')
      .option('--add-config <k=v,...>', 'configs to set: k1=v1,k2=[v2,v3] (repeatable)', collect)
      .option('--delete-config <k,...>', 'configs to remove: k1,k2 (repeatable)', collect)
      .action(action(async () => (await import('./configs.js')).runConfigs));
  }

  if (want('acls')) {
    // acls
    program
      .command('acls')
      .description('add, remove and list ACLs (kafka-acls.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*)')
      .option('--add', 'add ACLs')
      .option('--remove', 'remove ACLs')
      .option('--list', 'list ACLs (all, or of the given resources)')
      .option('--topic <topic>', 'a topic (repeatable; with prefixed patterns a prefix; * for all)', collect)
      .option('--group <group>', 'a consumer group (repeatable)', collect)
      .option('--cluster', 'the cluster')
      .option('--transactional-id <id>', 'a transactional id (repeatable)', collect)
      .option('--delegation-token <id>', 'a delegation token (repeatable)', collect)
      .option('--user-principal <user>', 'a user principal as a resource (repeatable)', collect)
      .option('--resource-pattern-type <type>', 'literal (default), prefixed; for --list and --remove also any and match')
      .option('--allow-principal <principal>', 'principal allowed, Type:name (repeatable)', collect)
      .option('--deny-principal <principal>', 'principal denied, Type:name (repeatable)', collect)
      .option('--allow-host <host>', 'host the allowed principals may come from (repeatable; default *)', collect)
      .option('--deny-host <host>', 'host the denied principals are denied from (repeatable; default *)', collect)
      .option('--operation <operation>', 'Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All (repeatable; default All)', collect)
      .option('--producer', 'the producer role: Write, Describe, Create on topics (Write, Describe on transactional ids)')
      .option('--consumer', 'the consumer role: Read, Describe on topics, Read on groups')
      .option('--idempotent', 'with --producer: IdempotentWrite on the cluster')
      .option('--principal <principal>', 'with --list: only the ACLs of this principal (repeatable)', collect)
      .option('--force', 'do not ask before removing')
      .action(action(async () => (await import('./acls.js')).runAcls));
  }

  if (want('console-producer') || want('produce')) {
    // console-producer
    program
      .command('console-producer')
      .alias('produce')
      .description('read lines from standard input and produce them (kafka-console-producer.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--broker-list <servers>', 'same as --bootstrap-server (Kafka 0.11)')
      .option('--topic <topic>', 'topic to produce to')
      .option('--property <prop=value>', 'line reader settings: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error (repeatable)', collect)
      .option('--reader-config <file>', 'line reader settings from a properties file')
      .option('--request-required-acks <acks>', 'acks: 0, 1, -1 or all (default all)')
      .option('--acks <acks>', 'same as --request-required-acks')
      .option('--compression-codec [codec]', 'none, gzip, snappy, lz4 or zstd (bare flag: gzip)')
      .option('--sync', 'send each record synchronously')
      .option('--batch-size <bytes>', 'max batch size per partition (default 16384)')
      .option('--max-partition-memory-bytes <bytes>', 'same as --batch-size')
      .option('--linger-ms <ms>', 'wait up to this long to fill a batch (default 5)')
      .option('--timeout <ms>', 'same as --linger-ms (Kafka\'s name)')
      .option('--message-send-max-retries <n>', 'retries per batch (default 10)')
      .option('--retry-backoff-ms <ms>', 'backoff before a retry (default 100)')
      .option('--request-timeout-ms <ms>', 'produce request timeout (default 30000)')
      .option('--max-memory-bytes <bytes>', 'bytes buffered before reading pauses (default 33554432)')
      .option('--max-block-ms <ms>', 'accepted for compatibility')
      .option('--metadata-expiry-ms <ms>', 'accepted for compatibility')
      .option('--socket-buffer-size <bytes>', 'accepted for compatibility')
      .option('--producer-property <prop=value>', 'producer config (repeatable)', collect)
      .option('--producer.config <file>', 'producer config properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --producer.config wins')
      .option('--line-reader <class>', 'only the default line reader is supported')
      .action(action(async () => (await import('./console-producer.js')).runConsoleProducer));
  }

  if (want('console-consumer') || want('consume')) {
    // console-consumer
    program
      .command('console-consumer')
      .alias('consume')
      .description('print records of a topic to standard output (kafka-console-consumer.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--zookeeper <connect>', 'find the cluster through ZooKeeper (host:port[/chroot])')
      .option('--topic <topic>', 'topic to consume')
      .option('--include <regex>', 'consume every topic whose name matches')
      .option('--whitelist <regex>', 'same as --include')
      .option('--group <group>', 'consumer group')
      .option('--from-beginning', 'start at the earliest offset (default: the latest)')
      .option('--partition <n>', 'consume only this partition')
      .option('--offset <offset>', 'earliest, latest or an offset (with --partition; default latest)')
      .option('--max-messages <n>', 'exit after this many records')
      .option('--timeout-ms <ms>', 'exit after this long without a record')
      .addOption(new Option('--isolation-level <level>', 'read_committed or read_uncommitted').default(undefined))
      .option('--property <prop=value>', 'formatter settings: print.key, print.value, print.timestamp, print.partition, print.offset, print.headers, key.separator, line.separator, headers.separator, headers.key.separator, null.literal, key.deserializer, value.deserializer (repeatable)', collect)
      .option('--formatter <name>', 'kafka.tools.DefaultMessageFormatter (default), kafka.tools.NoOpMessageFormatter, or json (one object per record)')
      .option('--formatter-config <file>', 'formatter settings from a properties file')
      .option('--consumer-property <prop=value>', 'consumer config (repeatable)', collect)
      .option('--consumer.config <file>', 'consumer config properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --consumer.config wins')
      .option('--skip-message-on-error', 'skip a record the formatter cannot print (a deserializer error) instead of stopping')
      .option('--key-deserializer <class>', 'Kafka\'s deserializer for keys: StringDeserializer (default), LongDeserializer, IntegerDeserializer, ... (or key.deserializer)')
      .option('--value-deserializer <class>', 'Kafka\'s deserializer for values, as --key-deserializer (or value.deserializer)')
      .option('--enable-systest-events', 'accepted for compatibility')
      .action(action(async () => (await import('./console-consumer.js')).runConsoleConsumer));
  }

  if (want('consumer-groups')) {
    // consumer-groups
    program
      .command('consumer-groups')
      .description('list, describe, reset the offsets of and delete consumer groups (kafka-consumer-groups.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'client properties file')
      .option('--list', 'list every consumer group')
      .option('--describe', 'describe groups: offsets and lag (default), --members or --state')
      .option('--delete', 'delete groups (they must have no active members)')
      .option('--reset-offsets', 'reset a group\'s committed offsets (with --dry-run or --execute)')
      .option('--group <group>', 'the consumer group (repeatable)', collect)
      .option('--all-groups', 'every group, with --describe, --delete or --reset-offsets')
      .option('--members', 'with --describe: one line per member')
      .option('--state [states]', 'with --describe: the group\'s state; with --list: show (or filter by, comma separated) states')
      .option('--offsets', 'with --describe: offsets and lag (the default)')
      .option('--verbose', 'with --describe --members: each member\'s partitions')
      .option('--topic <topic[:partitions]>', 'with --reset-offsets: a topic, optionally with partitions (t:0,1) (repeatable)', collect)
      .option('--all-topics', 'with --reset-offsets: every topic the group has committed offsets for')
      .option('--to-earliest', 'reset to the earliest offset')
      .option('--to-latest', 'reset to the log end')
      .option('--to-current', 'reset to the committed offset (the log end where the group has none)')
      .option('--to-offset <offset>', 'reset to this offset (clamped to the log)')
      .option('--shift-by <n>', 'move the committed offset by n (negative: back)')
      .option('--to-datetime <datetime>', 'reset to the first offset at or after YYYY-MM-DDTHH:mm:SS.sss')
      .option('--by-duration <duration>', 'reset to the first offset at or after now minus this ISO-8601 duration (PnDTnHnMnS, e.g. PT10M)')
      .option('--from-file <file>', 'reset to the offsets of a CSV file: topic,partition,offset (group,topic,partition,offset for several groups), as --export prints')
      .option('--export', 'with --reset-offsets: print the new offsets as CSV (for --from-file)')
      .option('--dry-run', 'print the new offsets without changing anything (the default)')
      .option('--execute', 'apply the new offsets')
      .option('--timeout <ms>', 'accepted for compatibility')
      .action(action(async () => (await import('./consumer-groups.js')).runConsumerGroups));
  }

  if (want('dump-log')) {
    // dump-log
    program
      .command('dump-log')
      .description('print the batches, records and index entries of log segment files (kafka-dump-log.sh)')
      .option('--files <files>', 'comma-separated .log, .index, .timeindex and .txnindex files to dump')
      .option('--print-data-log', 'print each record\'s key and payload (implies --deep-iteration)')
      .option('--deep-iteration', 'print every record, not only the batches')
      .option('--verify-index-only', 'check index entries against the log without printing them')
      .option('--transaction-index', 'also dump the aborted-transaction index (.txnindex) of each .log segment')
      .option('--transaction-log-decoder', 'decode the records as __transaction_state entries (implies --print-data-log)')
      .action(action(async () => (await import('./dump-log.js')).runDumpLog));
  }

  if (want('transactions')) {
    // transactions: kafka-transactions.sh (--bootstrap-server before or after the subcommand)
    const transactions = program
      .command('transactions')
      .description('list, describe, abort and find hanging transactions (kafka-transactions.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'admin client properties file');
    const txnAction = (sub: string) => async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const { runTransactions } = await import('./transactions.js');
      state.forceExit = true;
      state.code = await runTransactions(sub, { ...transactions.opts(), ...cmd.opts() });
    };
    transactions.command('list').description('the transactions of every broker').action(txnAction('list'));
    transactions
      .command('describe')
      .description('the state of one transactional id, from its coordinator')
      .option('--transactional-id <id>', 'the transactional id')
      .action(txnAction('describe'));
    transactions
      .command('describe-producers')
      .description('the active producers of a partition and their open transactions')
      .option('--topic <topic>', 'the topic')
      .option('--partition <n>', 'the partition')
      .option('--broker-id <id>', 'ask this broker (default: the partition leader)')
      .action(txnAction('describe-producers'));
    transactions
      .command('abort')
      .description('abort a (hanging) transaction on one partition')
      .option('--topic <topic>', 'the topic')
      .option('--partition <n>', 'the partition')
      .option('--start-offset <offset>', 'the first offset of the open transaction to abort')
      .option('--producer-id <id>', 'the producer id (instead of --start-offset)')
      .option('--producer-epoch <epoch>', 'the producer epoch (instead of --start-offset)')
      .option('--coordinator-epoch <epoch>', 'the coordinator epoch (instead of --start-offset)')
      .action(txnAction('abort'));
    transactions
      .command('find-hanging')
      .description('open transactions their coordinator does not know, older than --max-transaction-timeout')
      .option('--broker-id <id>', 'look at the partitions of this broker')
      .option('--topic <topic>', 'look at this topic')
      .option('--partition <n>', 'look at this partition of --topic')
      .option('--max-transaction-timeout <minutes>', 'transactions open longer than this are candidates (default 15)')
      .action(txnAction('find-hanging'));
  }

  if (want('get-offsets')) {
    program
      .command('get-offsets')
      .description('the offsets of partitions at a point in time (kafka-get-offsets.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--broker-list <servers>', 'same as --bootstrap-server (deprecated in Kafka)')
      .option('--command-config <file>', 'admin client properties file')
      .option('--topic <regex>', 'topics to look at, a regular expression (default: all)')
      .option('--partitions <list>', 'with --topic: comma-separated partition ids (default: all)')
      .option('--topic-partitions <list>', 'topic-regex[:p|:a-b|:a-|:-b], comma separated (instead of --topic/--partitions)')
      .option('--time <time>', '-1 or latest (default), -2 or earliest, -3 or max-timestamp (the record with the largest timestamp), or a timestamp in ms (the first offset at or after it)')
      .option('--exclude-internal-topics', 'leave out internal topics (__consumer_offsets, __transaction_state)')
      .action(action(async () => (await import('./get-offsets.js')).runGetOffsets));
  }

  if (want('delete-records')) {
    program
      .command('delete-records')
      .description('delete the records of partitions below an offset (kafka-delete-records.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'admin client properties file')
      .option('--offset-json-file <file>', '{"partitions":[{"topic":"t","partition":0,"offset":3}],"version":1} (offset -1: the high watermark)')
      .action(action(async () => (await import('./delete-records.js')).runDeleteRecords));
  }

  if (want('log-dirs')) {
    program
      .command('log-dirs')
      .description('the log dirs of brokers with the size and lag of each replica (kafka-log-dirs.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'admin client properties file')
      .option('--describe', 'describe the log dirs (the only action)')
      .option('--broker-list <ids>', 'brokers to query, e.g. 0,1 (default: all)')
      .option('--topic-list <topics>', 'topics to report, e.g. t1,t2 (default: all)')
      .action(action(async () => (await import('./log-dirs.js')).runLogDirs));
  }

  if (want('broker-api-versions')) {
    program
      .command('broker-api-versions')
      .description('the API versions every broker serves (kafka-broker-api-versions.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'admin client properties file')
      .action(action(async () => (await import('./broker-api-versions.js')).runBrokerApiVersions));
  }

  if (want('verifiable-producer')) {
    program
      .command('verifiable-producer')
      .description('produce sequential integers and report each acknowledgement as JSON (kafka-verifiable-producer.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--broker-list <servers>', 'same as --bootstrap-server')
      .option('--topic <topic>', 'topic to produce to')
      .option('--max-messages <n>', 'records to produce (default -1: until stopped)')
      .option('--throughput <n>', 'records/s to aim for (default -1: no limit)')
      .option('--acks <acks>', '-1, 0, 1 or all (default -1)')
      .option('--producer.config <file>', 'producer properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --producer.config wins')
      .option('--message-create-time <ms>', 'timestamp of the first record; later ones add the time elapsed')
      .option('--value-prefix <prefix>', 'values are <prefix>.<n> instead of <n>')
      .option('--repeating-keys <n>', 'keys 0..n-1 in turn (default: no key)')
      .action(action(async () => (await import('./verifiable-producer.js')).runVerifiableProducer));
  }

  if (want('verifiable-consumer')) {
    program
      .command('verifiable-consumer')
      .description('consume as a group member and report assignments, records and commits as JSON (kafka-verifiable-consumer.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--broker-list <servers>', 'same as --bootstrap-server')
      .option('--topic <topic>', 'topic to consume')
      .option('--group-id <group>', 'consumer group')
      .option('--group-instance-id <id>', 'static membership id')
      .option('--max-messages <n>', 'records to consume (default -1: until stopped)')
      .option('--session-timeout <ms>', 'session timeout (default 30000)')
      .option('--verbose', 'one record_data event per record')
      .option('--enable-autocommit', 'auto commit instead of a commit after every batch')
      .option('--reset-policy <policy>', 'earliest (default), latest or none')
      .option('--assignment-strategy <names>', 'assignors: range, roundrobin, sticky, cooperative-sticky or Kafka\'s class names')
      .option('--consumer.config <file>', 'consumer properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --consumer.config wins')
      .action(action(async () => (await import('./verifiable-consumer.js')).runVerifiableConsumer));
  }

  if (want('cluster')) {
    program
      .command('cluster')
      .description('an overview: brokers and the controller, topics with partition health, groups with lag (kfk\'s own view)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--command-config <file>', 'admin client properties file')
      .option('--include-internal', 'also list internal topics (__consumer_offsets, __transaction_state)')
      .action(action(async () => (await import('./cluster.js')).runCluster));
  }

  if (want('completion')) {
    program
      .command('completion')
      .description('print a shell completion script: source <(kfk completion bash)')
      .argument('[shell]', 'bash, zsh or fish')
      .action(async (shell: string | undefined) => {
        const { runCompletion } = await import('./completion.js');
        state.code = await runCompletion(shell, fullProgram());
      });
  }

  if (want('perf')) {
    // perf: kafka-producer-perf-test.sh, kafka-consumer-perf-test.sh, kafka-e2e-latency.sh
    const perf = program
      .command('perf')
      .description('measure throughput and latency: perf produce | perf consume | perf e2e (Kafka\'s perf tools)');
    perf
      .command('produce')
      .description('produce records as fast as possible or at a rate, and print throughput and latency (kafka-producer-perf-test.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster (or bootstrap.servers in --producer-props)')
      .option('--topic <topic>', 'topic to produce to')
      .option('--num-records <n>', 'number of records to send')
      .option('--record-size <bytes>', 'size of each record (random capital letters)')
      .option('--payload-file <file>', 'send records read from this file, split at --payload-delimiter, chosen at random')
      .option('--payload-delimiter <delimiter>', 'delimiter of --payload-file (default \\n)')
      .option('--payload-monotonic', 'each record\'s value is its index, as text')
      .option('--throughput <n>', 'records/s to aim for; -1 for no limit (default -1)')
      .option('--producer-props <prop=value...>', 'producer settings, e.g. acks=1 linger.ms=5 batch.size=1048576')
      .option('--producer.config <file>', 'producer settings properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --producer.config wins')
      .option('--print-metrics', 'print the producer\'s metrics at the end')
      .option('--reporting-interval <ms>', 'interval of the progress lines (default 5000)')
      .option('--transactional-id <id>', 'send in transactions with this transactional id (default performance-producer-default-transactional-id with --transaction-duration-ms)')
      .option('--transaction-duration-ms <ms>', 'commit a transaction every this many ms (default 3000 with --transactional-id)')
      .action(action(async () => (await import('./perf-produce.js')).runPerfProduce));
    perf
      .command('consume')
      .description('consume records as fast as possible and print Kafka\'s CSV of throughput (kafka-consumer-perf-test.sh)')
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--topic <topic>', 'topic to consume')
      .option('--messages <n>', 'number of records to consume')
      .option('--group <group>', 'consumer group (default perf-consumer-<random>)')
      .option('--fetch-size <bytes>', 'max bytes fetched per partition and request (default 1048576)')
      .option('--from-latest', 'start at the end of the log when the group has no committed offset (default: the beginning)')
      .option('--show-detailed-stats', 'a row per --reporting-interval instead of one at the end')
      .option('--reporting-interval <ms>', 'interval of the detailed rows (default 5000)')
      .option('--timeout <ms>', 'stop after this long without a record (default 10000)')
      .option('--hide-header', 'no CSV header line')
      .option('--date-format <format>', 'the time columns\' format (default yyyy-MM-dd HH:mm:ss:SSS)')
      .option('--consumer.config <file>', 'consumer settings properties file')
      .option('--command-config <file>', 'client properties file (security.protocol, sasl.*, ssl.*); --consumer.config wins')
      .option('--consumer-property <prop=value>', 'consumer setting (repeatable)', collect)
      .option('--print-metrics', 'print the consumer\'s metrics at the end')
      .option('--socket-buffer-size <bytes>', 'accepted for compatibility')
      .option('--num-fetch-threads <n>', 'accepted for compatibility (deprecated in Kafka)')
      .option('--threads <n>', 'accepted for compatibility (deprecated in Kafka)')
      .action(action(async () => (await import('./perf-consume.js')).runPerfConsume));
    perf
      .command('e2e')
      .description('end-to-end latency: produce a record, consume it, repeat, or at a rate (Kafka\'s EndToEndLatency)')
      .usage('[--bootstrap-server s] --topic t --num-records n [--producer-acks 1] [--record-size 100] [--throughput n] | broker_list topic num_messages producer_acks message_size_bytes [properties_file]')
      .argument('[args...]', "Kafka's positional form")
      .option('--bootstrap-server <servers>', 'host:port[,host:port] of the cluster')
      .option('--topic <topic>', 'topic to use (its records are read from the end)')
      .option('--num-records <n>', 'number of records')
      .option('--producer-acks <acks>', '1 or all (default 1)')
      .option('--record-size <bytes>', 'size of each record (default 100)')
      .option('--throughput <n>', 'records/s, without waiting for each one (default: one at a time, as Kafka\'s tool)')
      .option('--warmup-records <n>', 'records sent and consumed first, not counted (default 0)')
      .option('--command-config <file>', 'client settings properties file')
      .action(async (args: string[], _opts: unknown, cmd: Command) => {
        const { runPerfE2e } = await import('./perf-e2e.js');
        state.forceExit = true;
        state.code = await runPerfE2e(cmd.opts(), args ?? []);
      });
  }

  // --debug is accepted after the command name too (options are positional: see enablePositionalOptions).
  for (const sub of program.commands) {
    if (sub.name() === 'server' || sub.name() === 'zookeeper') continue;
    for (const cmd of sub.commands.length > 0 ? sub.commands : [sub]) cmd.addOption(new Option('--debug', 'print stack traces on errors').hideHelp());
  }
  return program;
}

/** Every command and flag the CLI defines (for kfk completion and the docs/cli.md check); nothing runs. */
export function fullProgram(): Command {
  return buildProgram({ code: 0, forceExit: true }, []);
}

/** Runs the CLI; resolves with the exit code. */
export async function main(rawArgv: readonly string[]): Promise<number> {
  // --no-color, anywhere on the line, is NO_COLOR for this process (colour is only ever used on a terminal)
  const argv = rawArgv.filter((a) => a !== '--no-color');
  if (argv.length !== rawArgv.length) process.env.NO_COLOR = '1';
  const state: CommandState = { code: 0, forceExit: true };
  const program = buildProgram(state, argv);
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    // `kfk consume ... | head`: the reader went away; stop quietly.
    if (err.code === 'EPIPE') process.exit(state.code);
    throw err;
  };
  process.stdout.on('error', onStdoutError);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit 0; usage errors were already printed by outputError.
      return err.exitCode === 0 ? 0 : 1;
    }
    printError(err, argv);
    state.code = err instanceof CliError ? err.exitCode : 1;
  }
  if (state.forceExit) {
    // Nothing should keep running after a client command. With its output written, end the process now: letting
    // Node wind down on its own tears the heap down page by page, 1-2 ms of every CLI call (issue 9). With output
    // still buffered (a pipe that is not synchronous), or a socket or stdin holding the event loop open, let it drain
    // and end the process shortly after (this timer itself does not keep it alive).
    const code = state.code;
    if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(code);
    setTimeout(() => process.exit(code), 1000).unref();
  }
  return state.code;
}
