/**
 * kfk consumer-groups (kafka-consumer-groups.sh): --list, --describe [--members | --state | --offsets],
 * --reset-offsets, --delete. Output shapes and messages are Kafka's ConsumerGroupCommand's: space-padded
 * columns (GROUP/TOPIC/CONSUMER-ID/HOST at least 15 wide, PARTITION 10, offsets and LAG 15), `-` for a
 * missing value, a blank line before each table.
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, warn, writeOut, type Opts } from './common.js';
import { Admin, type GroupDescription, type GroupOffset } from '../src/client/admin.js';
import { ErrorCode, KafkaError, errorName } from '../src/protocol/errors.js';

const ACTIONS = ['list', 'describe', 'delete', 'resetOffsets'] as const;
type Action = (typeof ACTIONS)[number];
const FLAG: Record<Action, string> = { list: '--list', describe: '--describe', delete: '--delete', resetOffsets: '--reset-offsets' };
const MISSING = '-';
const ACTIVE_STATES = new Set(['Stable', 'PreparingRebalance', 'CompletingRebalance', 'Assigning', 'Reconciling']);

export async function runConsumerGroups(opts: Opts): Promise<number> {
  const actions = ACTIONS.filter((a) => opts[a] === true);
  if (actions.length !== 1) {
    throw new CliError('Command must include exactly one action: --list, --describe, --delete, --reset-offsets');
  }
  const action = actions[0]!;
  const groups = (opts.group as string[] | undefined) ?? [];
  if (action !== 'list' && groups.length === 0 && !opts.allGroups) throw new CliError(`Option [${FLAG[action]}] takes one of these options: [all-groups], [group]`);
  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  const security = await clientSecurityOf(props);
  const admin = new Admin({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'kfk-consumer-groups', ...(security ? { security } : {}) });
  try {
    const targets = opts.allGroups ? (await admin.listGroups()).map((g) => g.groupId) : groups;
    switch (action) {
      case 'list':
        return await list(admin, opts);
      case 'describe':
        return await describe(admin, targets, opts);
      case 'delete':
        return await del(admin, targets);
      case 'resetOffsets':
        return await resetOffsets(admin, targets, opts);
    }
  } finally {
    await admin.close();
  }
}

/** Left-aligned, padded to `width` (Java's %-Ns). */
function pad(s: string | number, width: number): string {
  const str = String(s);
  return str.length >= width ? str : str + ' '.repeat(width - str.length);
}

async function list(admin: Admin, opts: Opts): Promise<number> {
  const groups = await admin.listGroups();
  if (opts.state !== undefined) {
    const wanted = typeof opts.state === 'string' ? new Set(opts.state.split(',').map((s) => s.trim().toLowerCase())) : undefined;
    const rows = groups.filter((g) => !wanted || wanted.has(g.state.toLowerCase()));
    const w = Math.max(15, ...rows.map((g) => g.groupId.length));
    const lines = [`${pad('GROUP', w)} STATE`, ...rows.map((g) => `${pad(g.groupId, w)} ${g.state}`)];
    await writeOut(lines.map((l) => `${l}\n`).join(''));
    return 0;
  }
  await writeOut(groups.map((g) => `${g.groupId}\n`).join(''));
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// --describe

interface OffsetRow {
  group: string;
  topic: string;
  partition: number;
  offset: number | undefined;
  logEnd: number | undefined;
  consumerId: string;
  host: string;
  clientId: string;
}

/** Kafka: a missing group is an error; an empty one a note; a rebalancing one a warning. Returns whether to print. */
function groupStateNote(group: string, state: string, rows: number): { print: boolean; error?: string } {
  if (state === 'Dead') return { print: false, error: `Consumer group '${group}' does not exist.` };
  if (state === 'Empty') process.stderr.write(`\nConsumer group '${group}' has no active members.\n`);
  else if (ACTIVE_STATES.has(state) && state !== 'Stable') process.stderr.write(`\nWarning: Consumer group '${group}' is rebalancing.\n`);
  return { print: rows > 0 };
}

async function describe(admin: Admin, groups: string[], opts: Opts): Promise<number> {
  const modes = (['members', 'state', 'offsets'] as const).filter((m) => opts[m] === true || (m === 'state' && opts.state === true));
  if (modes.length > 1) throw new CliError('Option [describe] takes at most one of these options: [members], [offsets], [state]');
  const mode = modes[0] ?? 'offsets';
  let failed = false;
  for (const group of groups) {
    const desc = await admin.describeGroup(group);
    if (desc.state === 'Dead') {
      process.stderr.write(`Error: Consumer group '${group}' does not exist.\n`);
      failed = true;
      continue;
    }
    if (mode === 'state') await printState(desc);
    else if (mode === 'members') await printMembers(desc, opts.verbose === true);
    else await printOffsets(admin, desc);
  }
  return failed ? 1 : 0;
}

async function printOffsets(admin: Admin, desc: GroupDescription): Promise<void> {
  const committed = await admin.listGroupOffsets(desc.groupId);
  const committedByKey = new Map(committed.map((c) => [`${c.topic}\u0000${c.partition}`, c.offset]));
  const rows: OffsetRow[] = [];
  const seen = new Set<string>();
  // Members with the most partitions first, as Kafka prints them; then committed partitions nobody owns.
  const members = [...desc.members].sort((a, b) => b.assignment.length - a.assignment.length);
  for (const m of members) {
    for (const tp of [...m.assignment].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))) {
      const k = `${tp.topic}\u0000${tp.partition}`;
      seen.add(k);
      rows.push({ group: desc.groupId, topic: tp.topic, partition: tp.partition, offset: committedByKey.get(k), logEnd: undefined, consumerId: m.memberId, host: m.clientHost, clientId: m.clientId });
    }
  }
  for (const c of committed) {
    if (seen.has(`${c.topic}\u0000${c.partition}`)) continue;
    rows.push({ group: desc.groupId, topic: c.topic, partition: c.partition, offset: c.offset, logEnd: undefined, consumerId: MISSING, host: MISSING, clientId: MISSING });
  }
  await fillLogEnd(admin, rows);
  const note = groupStateNote(desc.groupId, desc.state, rows.length);
  if (!note.print) return;
  const wGroup = Math.max(15, ...rows.map((r) => r.group.length));
  const wTopic = Math.max(15, ...rows.map((r) => r.topic.length));
  const wConsumer = Math.max(15, ...rows.map((r) => r.consumerId.length));
  const wHost = Math.max(15, ...rows.map((r) => r.host.length));
  // On a terminal, a partition with lag shows it in yellow (padding first, so the columns stay aligned)
  const colours = process.stdout.isTTY === true ? (await import('./tty.js')).palette(process.stdout) : undefined;
  const lagCell = (lag: number | undefined): string => {
    const cell = pad(lag ?? MISSING, 15);
    return colours !== undefined && lag !== undefined && lag > 0 ? colours.yellow(cell) : cell;
  };
  const line = (cols: Array<string | number>, lag?: string): string =>
    `${pad(cols[0]!, wGroup)} ${pad(cols[1]!, wTopic)} ${pad(cols[2]!, 10)} ${pad(cols[3]!, 15)} ${pad(cols[4]!, 15)} ${lag ?? pad(cols[5]!, 15)} ${pad(cols[6]!, wConsumer)} ${pad(cols[7]!, wHost)} ${cols[8]!}`;
  const out = ['', line(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'])];
  for (const r of rows) {
    const lag = r.offset !== undefined && r.logEnd !== undefined ? Math.max(0, r.logEnd - r.offset) : undefined;
    out.push(line([r.group, r.topic, r.partition, r.offset ?? MISSING, r.logEnd ?? MISSING, lag ?? MISSING, r.consumerId, r.host, r.clientId], lagCell(lag)));
  }
  out.push('');
  await writeOut(out.map((l) => `${l}\n`).join(''));
}

/** LOG-END-OFFSET: ListOffsets latest for every row's partition (a missing topic leaves `-`). */
async function fillLogEnd(admin: Admin, rows: OffsetRow[]): Promise<void> {
  const topics = [...new Set(rows.map((r) => r.topic))];
  for (const topic of topics) {
    const parts = [...new Set(rows.filter((r) => r.topic === topic).map((r) => r.partition))];
    try {
      const ends = await admin.listOffsets(topic, 'latest', { partitions: parts });
      for (const r of rows) {
        if (r.topic !== topic) continue;
        const e = ends.find((x) => x.partition === r.partition);
        if (e && e.offset >= 0) r.logEnd = e.offset;
      }
    } catch (e) {
      // a deleted topic has no log end (shown as '-', as Kafka shows it); any other failure is said, not hidden
      if (!(e instanceof KafkaError && e.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) {
        process.stderr.write(`Warning: could not read the log end offsets of topic '${topic}': ${(e as Error).message}\n`);
      }
    }
  }
}

async function printMembers(desc: GroupDescription, verbose: boolean): Promise<void> {
  const note = groupStateNote(desc.groupId, desc.state, desc.members.length);
  if (!note.print) return;
  const withInstance = desc.members.some((m) => m.groupInstanceId !== null);
  const wGroup = Math.max(15, desc.groupId.length);
  const wConsumer = Math.max(15, ...desc.members.map((m) => m.memberId.length));
  const wInstance = Math.max(17, ...desc.members.map((m) => (m.groupInstanceId ?? MISSING).length));
  const wHost = Math.max(15, ...desc.members.map((m) => m.clientHost.length));
  const wClient = Math.max(15, ...desc.members.map((m) => m.clientId.length));
  const line = (g: string, c: string, inst: string, h: string, cl: string, n: string | number, assignment?: string): string =>
    `${pad(g, wGroup)} ${pad(c, wConsumer)} ${withInstance ? `${pad(inst, wInstance)} ` : ''}${pad(h, wHost)} ${pad(cl, wClient)} ${pad(n, 15)} ${assignment ?? ''}`;
  const out = ['', line('GROUP', 'CONSUMER-ID', 'GROUP-INSTANCE-ID', 'HOST', 'CLIENT-ID', '#PARTITIONS', verbose ? 'ASSIGNMENT' : undefined)];
  for (const m of desc.members) {
    let assignment: string | undefined;
    if (verbose) {
      const byTopic = new Map<string, number[]>();
      for (const tp of m.assignment) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
      assignment = byTopic.size === 0 ? MISSING : [...byTopic].map(([t, ps]) => `${t}(${ps.join(',')})`).join(', ');
    }
    out.push(line(desc.groupId, m.memberId, m.groupInstanceId ?? MISSING, m.clientHost, m.clientId, m.assignment.length, assignment));
  }
  out.push('');
  await writeOut(out.map((l) => `${l}\n`).join(''));
}

async function printState(desc: GroupDescription): Promise<void> {
  groupStateNote(desc.groupId, desc.state, 1);
  const coordinator = `${desc.coordinator.host}:${desc.coordinator.port} (${desc.coordinator.nodeId})`;
  const wGroup = Math.max(15, desc.groupId.length);
  const wCoord = Math.max(25, coordinator.length);
  const line = (g: string, c: string, a: string, s: string, n: string | number): string => `${pad(g, wGroup)} ${pad(c, wCoord)} ${pad(a, 20)} ${pad(s, 15)} ${n}`;
  const out = ['', line('GROUP', 'COORDINATOR (ID)', 'ASSIGNMENT-STRATEGY', 'STATE', '#MEMBERS'), line(desc.groupId, coordinator, desc.protocol, desc.state, desc.members.length), ''];
  await writeOut(out.map((l) => `${l}\n`).join(''));
}

// ---------------------------------------------------------------------------------------------------
// --delete

async function del(admin: Admin, groups: string[]): Promise<number> {
  const results = await admin.deleteGroups(groups);
  const ok = [...results].filter(([, c]) => c === ErrorCode.NONE).map(([g]) => g);
  const failed = [...results].filter(([, c]) => c !== ErrorCode.NONE);
  if (failed.length === 0) {
    await writeOut(`Deletion of requested consumer groups (${ok.map((g) => `'${g}'`).join(', ')}) was successful.\n`);
    return 0;
  }
  const reason = (code: number): string => {
    if (code === ErrorCode.GROUP_ID_NOT_FOUND) return 'The group id does not exist.';
    if (code === ErrorCode.NON_EMPTY_GROUP) return 'The group is not empty.';
    return errorName(code);
  };
  const lines = ['Error: Deletion of some consumer groups failed:', ...failed.map(([g, c]) => `* Group '${g}' could not be deleted due to: ${reason(c)}`)];
  if (ok.length > 0) lines.push(`These consumer groups were deleted successfully: ${ok.map((g) => `'${g}'`).join(', ')}`);
  process.stderr.write(lines.map((l) => `${l}\n`).join(''));
  return 1;
}

// ---------------------------------------------------------------------------------------------------
// --reset-offsets

type ResetSpec =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset'; offset: number }
  | { kind: 'shift'; by: number }
  | { kind: 'current' }
  | { kind: 'datetime'; timestamp: number }
  | { kind: 'file'; offsets: Map<string, GroupOffset[]> };

function parseResetSpec(opts: Opts): ResetSpec {
  const specs: ResetSpec[] = [];
  if (opts.toEarliest) specs.push({ kind: 'earliest' });
  if (opts.toLatest) specs.push({ kind: 'latest' });
  if (opts.toCurrent) specs.push({ kind: 'current' });
  if (opts.toOffset !== undefined) specs.push({ kind: 'offset', offset: parseIntFlag(opts.toOffset, '--to-offset', 0) });
  if (opts.shiftBy !== undefined) specs.push({ kind: 'shift', by: parseIntFlag(opts.shiftBy, '--shift-by') });
  if (opts.toDatetime !== undefined) specs.push({ kind: 'datetime', timestamp: parseDatetime(String(opts.toDatetime)) });
  if (opts.byDuration !== undefined) specs.push({ kind: 'datetime', timestamp: Date.now() - parseDuration(String(opts.byDuration)) });
  if (opts.fromFile !== undefined) specs.push({ kind: 'file', offsets: new Map() });
  if (specs.length !== 1) {
    throw new CliError(
      'Option [reset-offsets] takes exactly one of these options: [to-datetime], [by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current], [to-offset]',
    );
  }
  return specs[0]!;
}

/** An ISO-8601 duration as Kafka's --by-duration takes it: PnDTnHnMnS (e.g. PT10M, P1DT2H, PT0.5S). */
export function parseDuration(s: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(s.trim());
  if (!m || s.trim().toUpperCase() === 'P' || s.trim().toUpperCase().endsWith('T')) throw new CliError(`Error parsing duration '${s}': expected the format PnDTnHnMnS, e.g. PT10M`);
  const [, d, h, mi, sec] = m;
  return ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(mi ?? 0)) * 60_000 + Math.round(Number(sec ?? 0) * 1000);
}

/**
 * The CSV of --from-file (what --export prints): `topic,partition,offset` lines for one group, or
 * `group,topic,partition,offset` lines for several. Offsets by group ('' when the file names none).
 */
export function parseOffsetsCsv(text: string): Map<string, GroupOffset[]> {
  const out = new Map<string, GroupOffset[]>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const cols = line.split(',').map((c) => c.trim());
    if (cols.length !== 3 && cols.length !== 4) throw new CliError(`--from-file line ${i + 1}: expected topic,partition,offset or group,topic,partition,offset (got '${line}')`);
    const [group, topic, partition, offset] = cols.length === 4 ? cols : ['', ...cols];
    if (!/^\d+$/.test(partition!) || !/^\d+$/.test(offset!)) throw new CliError(`--from-file line ${i + 1}: partition and offset must be non-negative integers (got '${line}')`);
    out.set(group!, [...(out.get(group!) ?? []), { topic: topic!, partition: Number(partition), offset: Number(offset) }]);
  });
  return out;
}

/** Kafka's format YYYY-MM-DDTHH:mm:SS.sss, local time unless a zone (Z, ±HH:mm) follows. */
export function parseDatetime(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim());
  if (!m) throw new CliError(`Error parsing timestamp '${s}': expected the format yyyy-MM-ddTHH:mm:SS.sss (optionally followed by Z or ±HH:mm)`);
  const [, y, mo, d, h, mi, sec, ms, zone] = m;
  const millis = Number((ms ?? '0').padEnd(3, '0'));
  if (zone === undefined) return new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), millis).getTime();
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), millis);
  if (zone === 'Z') return utc;
  const zm = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const offsetMin = (zm[1] === '-' ? -1 : 1) * (Number(zm[2]) * 60 + Number(zm[3]));
  return utc - offsetMin * 60_000;
}

/** `--topic T` (every partition) or `--topic T:0,2`; repeatable. */
async function resolvePartitions(admin: Admin, group: string, opts: Opts): Promise<Array<{ topic: string; partition: number }>> {
  const topics = (opts.topic as string[] | undefined) ?? [];
  if (opts.allTopics && topics.length > 0) throw new CliError('Option [reset-offsets] takes only one of these options: [all-topics], [topic]');
  if (opts.allTopics) {
    const committed = await admin.listGroupOffsets(group);
    return committed.map((c) => ({ topic: c.topic, partition: c.partition }));
  }
  if (topics.length === 0) throw new CliError('Option [reset-offsets] takes one of these options: [all-topics], [topic]');
  const out: Array<{ topic: string; partition: number }> = [];
  for (const t of topics) {
    const idx = t.indexOf(':');
    const name = idx >= 0 ? t.slice(0, idx) : t;
    let partitions: number[];
    if (idx >= 0) {
      partitions = t
        .slice(idx + 1)
        .split(',')
        .filter((p) => p.trim() !== '')
        .map((p) => parseIntFlag(p, '--topic', 0));
    } else {
      const [desc] = await admin.describeTopics([name]).catch(() => {
        throw new CliError(`Topic '${name}' does not exist.`);
      });
      partitions = desc!.partitions.map((p) => p.partition);
    }
    for (const partition of partitions) out.push({ topic: name, partition });
  }
  return out;
}

async function resetOffsets(admin: Admin, groups: string[], opts: Opts): Promise<number> {
  const spec = parseResetSpec(opts);
  if (spec.kind === 'file') {
    const { readFile } = await import('node:fs/promises');
    let text: string;
    try {
      text = await readFile(String(opts.fromFile), 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --from-file ${String(opts.fromFile)}: ${(err as Error).message}`);
    }
    spec.offsets = parseOffsetsCsv(text);
  }
  if (opts.dryRun && opts.execute) throw new CliError('Option [reset-offsets] takes only one of these options: [dry-run], [execute]');
  if (!opts.dryRun && !opts.execute) {
    warn('No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.');
  }
  const plans: Array<{ group: string; offsets: GroupOffset[] }> = [];
  for (const group of groups) {
    const desc = await admin.describeGroup(group);
    if (ACTIVE_STATES.has(desc.state)) {
      throw new CliError(`Assignments can only be reset if the group '${group}' is inactive, but the current state is ${desc.state}.`);
    }
    if (spec.kind === 'file') {
      // the file's lines for this group (or its group-less lines), limited to --topic when given
      const fromFile = spec.offsets.get(group) ?? spec.offsets.get('') ?? [];
      const only = (opts.topic as string[] | undefined)?.map((t) => t.split(':')[0]);
      plans.push({ group, offsets: fromFile.filter((o) => only === undefined || only.includes(o.topic)) });
      continue;
    }
    const partitions = await resolvePartitions(admin, group, opts);
    plans.push({ group, offsets: await planOffsets(admin, group, partitions, spec) });
  }
  const rows = plans.flatMap((p) => p.offsets.map((o) => ({ group: p.group, ...o })));
  const out: string[] = [];
  if (opts.export === true) {
    // Kafka's CSV: without the group column for one group, with it for several (what --from-file reads back)
    for (const r of rows) out.push(groups.length > 1 ? `${r.group},${r.topic},${r.partition},${r.offset}` : `${r.topic},${r.partition},${r.offset}`);
  } else {
    if (rows.length > 0) out.push('', `${pad('GROUP', 30)} ${pad('TOPIC', 30)} ${pad('PARTITION', 10)} ${pad('NEW-OFFSET', 15)}`);
    for (const r of rows) out.push(`${pad(r.group, 30)} ${pad(r.topic, 30)} ${pad(r.partition, 10)} ${pad(r.offset, 15)}`);
    out.push('');
  }
  if (opts.execute) {
    for (const p of plans) if (p.offsets.length > 0) await admin.alterGroupOffsets(p.group, p.offsets);
  }
  await writeOut(out.map((l) => `${l}\n`).join(''));
  return 0;
}

async function planOffsets(admin: Admin, group: string, partitions: Array<{ topic: string; partition: number }>, spec: ResetSpec): Promise<GroupOffset[]> {
  const topics = [...new Set(partitions.map((p) => p.topic))];
  const earliest = new Map<string, number>();
  const latest = new Map<string, number>();
  const k = (t: string, p: number): string => `${t}\u0000${p}`;
  for (const topic of topics) {
    const ps = partitions.filter((p) => p.topic === topic).map((p) => p.partition);
    for (const o of await admin.listOffsets(topic, 'earliest', { partitions: ps })) earliest.set(k(topic, o.partition), o.offset);
    for (const o of await admin.listOffsets(topic, 'latest', { partitions: ps })) latest.set(k(topic, o.partition), o.offset);
  }
  const clamp = (tp: { topic: string; partition: number }, offset: number): number => {
    const lo = earliest.get(k(tp.topic, tp.partition)) ?? 0;
    const hi = latest.get(k(tp.topic, tp.partition)) ?? offset;
    return Math.min(Math.max(offset, lo), hi);
  };
  let byTime: Map<string, number> | undefined;
  if (spec.kind === 'datetime') {
    byTime = new Map();
    for (const topic of topics) {
      const ps = partitions.filter((p) => p.topic === topic).map((p) => p.partition);
      for (const o of await admin.listOffsets(topic, { timestamp: spec.timestamp }, { partitions: ps })) byTime.set(k(topic, o.partition), o.offset);
    }
  }
  let current: Map<string, number> | undefined;
  if (spec.kind === 'shift' || spec.kind === 'current') {
    current = new Map((await admin.listGroupOffsets(group, partitions)).map((c) => [k(c.topic, c.partition), c.offset]));
  }
  return partitions.map((tp) => {
    const key = k(tp.topic, tp.partition);
    let offset: number;
    switch (spec.kind) {
      case 'earliest':
        offset = earliest.get(key) ?? 0;
        break;
      case 'latest':
        offset = latest.get(key) ?? 0;
        break;
      case 'offset':
        offset = clamp(tp, spec.offset);
        break;
      case 'shift': {
        const cur = current!.get(key);
        // Kafka starts a partition without a committed offset from the log end... of its reset: use latest.
        offset = clamp(tp, (cur ?? latest.get(key) ?? 0) + spec.by);
        break;
      }
      case 'current':
        // Kafka: the committed offset, or the log end for a partition the group has none for
        offset = current!.get(key) ?? latest.get(key) ?? 0;
        break;
      case 'datetime': {
        const o = byTime!.get(key);
        offset = o !== undefined && o >= 0 ? o : (latest.get(key) ?? 0);
        break;
      }
      case 'file':
        throw new Error('unreachable: --from-file offsets are not planned');
    }
    return { topic: tp.topic, partition: tp.partition, offset };
  });
}
