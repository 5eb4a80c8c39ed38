/**
 * kfk acls (kafka-acls.sh): add, remove and list ACLs through CreateAcls, DeleteAcls and DescribeAcls, with
 * Kafka's flags and output:
 *
 *   kfk acls --bootstrap-server B --add --allow-principal User:alice --operation Read --topic orders
 *   kfk acls --bootstrap-server B --add --allow-principal User:alice --consumer --topic orders --group g
 *   kfk acls --bootstrap-server B --add --allow-principal User:bob --producer --topic orders --resource-pattern-type prefixed
 *   kfk acls --bootstrap-server B --remove --deny-principal User:eve --operation All --topic orders --force
 *   kfk acls --bootstrap-server B --list [--topic orders] [--principal User:alice]
 *
 * `--producer`: Write, Describe, Create on topics (Write, Describe on transactional ids; --idempotent adds
 * IdempotentWrite on the cluster); `--consumer`: Read, Describe on topics, Read on groups. Hosts default to "*".
 * --remove asks for confirmation on a terminal unless --force, as Kafka's tool does.
 */
import { createInterface } from 'node:readline/promises';
import { CliError, bootstrapFrom, clientSecurityOf, readPropertiesFlag, writeOut, type Opts } from './common.js';
import {
  AclOperation,
  CLUSTER_NAME,
  PatternType,
  PermissionType,
  RESOURCE_OPERATIONS,
  ResourceType,
  enumName,
  parseEnum,
  OPERATION_NAMES,
  type AccessControlEntry,
  type AclBinding,
  type ResourcePattern,
} from '../src/security/acl.js';
import { ErrorCode, KafkaError } from '../src/protocol/errors.js';

function list(v: unknown): string[] {
  if (v === undefined || v === null || v === false) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => String(x).trim());
}

function patternText(p: ResourcePattern): string {
  return `ResourcePattern(resourceType=${enumName(ResourceType, p.resourceType)}, name=${p.name}, patternType=${enumName(PatternType, p.patternType)})`;
}

function entryText(e: AccessControlEntry): string {
  return `(principal=${e.principal}, host=${e.host}, operation=${enumName(AclOperation, e.operation)}, permissionType=${enumName(PermissionType, e.permissionType)})`;
}

/** Kafka's listing block: "Current ACLs for resource `...`: \n \t(...)\n\t(...) \n". */
function block(title: string, p: ResourcePattern, entries: readonly AccessControlEntry[]): string {
  return `${title} \`${patternText(p)}\`: \n ${entries.map((e) => `\t${entryText(e)}`).join('\n')} \n\n`;
}

function principal(s: string): string {
  const i = s.indexOf(':');
  if (i <= 0 || i === s.length - 1) throw new CliError(`Invalid principal ${s}: expected principalType:name (e.g. User:alice)`);
  return s;
}

function operation(s: string): number {
  const op = parseEnum(AclOperation, s);
  if (op === undefined || op === AclOperation.UNKNOWN || op === AclOperation.ANY) {
    throw new CliError(`Invalid operation ${s}: one of ${Object.values(OPERATION_NAMES).join(', ')}`);
  }
  return op;
}

function patternTypeOf(opts: Opts): number {
  const raw = opts.resourcePatternType === undefined ? 'LITERAL' : String(opts.resourcePatternType);
  const p = parseEnum(PatternType, raw);
  if (p === undefined || p === PatternType.UNKNOWN) throw new CliError(`Unknown resource-pattern-type: ${raw}`);
  return p;
}

/** The resources named on the command line (with the pattern type), in Kafka's order. */
function resourcesOf(opts: Opts, patternType: number, required: boolean): ResourcePattern[] {
  const out: ResourcePattern[] = [];
  for (const t of list(opts.topic)) out.push({ resourceType: ResourceType.TOPIC, name: t, patternType });
  if (patternType === PatternType.LITERAL && (opts.cluster === true || opts.idempotent === true)) out.push({ resourceType: ResourceType.CLUSTER, name: CLUSTER_NAME, patternType });
  for (const g of list(opts.group)) out.push({ resourceType: ResourceType.GROUP, name: g, patternType });
  for (const t of list(opts.transactionalId)) out.push({ resourceType: ResourceType.TRANSACTIONAL_ID, name: t, patternType });
  for (const t of list(opts.delegationToken)) out.push({ resourceType: ResourceType.DELEGATION_TOKEN, name: t, patternType });
  for (const u of list(opts.userPrincipal)) out.push({ resourceType: ResourceType.USER, name: u, patternType });
  if (out.length === 0 && required) throw new CliError('You must provide at least one resource: --topic <topic> or --cluster or --group <group> or --delegation-token <Delegation Token ID>');
  return out;
}

/** The entries for the given operations: every allowed principal × host, then every denied one. */
function entries(opts: Opts, operations: readonly number[]): AccessControlEntry[] {
  const out: AccessControlEntry[] = [];
  const add = (principals: string[], hosts: string[], permissionType: number) => {
    for (const p of principals) for (const op of operations) for (const h of hosts) out.push({ principal: principal(p), host: h, operation: op, permissionType });
  };
  const allow = list(opts.allowPrincipal);
  const deny = list(opts.denyPrincipal);
  add(allow, opts.allowHost !== undefined ? list(opts.allowHost) : allow.length > 0 ? ['*'] : [], PermissionType.ALLOW);
  add(deny, opts.denyHost !== undefined ? list(opts.denyHost) : deny.length > 0 ? ['*'] : [], PermissionType.DENY);
  return out;
}

/** Resource → entries, from --operation or the --producer / --consumer roles (kafka-acls.sh's getResourceFilterToAcls). */
function resourceToEntries(opts: Opts, patternType: number): Map<string, { pattern: ResourcePattern; entries: AccessControlEntry[] }> {
  const out = new Map<string, { pattern: ResourcePattern; entries: AccessControlEntry[] }>();
  const put = (p: ResourcePattern, e: AccessControlEntry[]) => {
    const k = `${p.resourceType}\u0000${p.name}`;
    const cur = out.get(k);
    out.set(k, { pattern: p, entries: [...(cur?.entries ?? []), ...e.filter((x) => !(cur?.entries ?? []).some((y) => entryText(y) === entryText(x)))] });
  };
  const resources = resourcesOf(opts, patternType, true);
  const producer = opts.producer === true;
  const consumer = opts.consumer === true;
  if (!producer && !consumer) {
    const ops = list(opts.operation).map(operation);
    for (const r of resources) put(r, entries(opts, ops.length > 0 ? ops : [AclOperation.ALL]));
  }
  if (producer) {
    for (const r of resources.filter((x) => x.resourceType === ResourceType.TOPIC)) put(r, entries(opts, [AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE]));
    for (const r of resources.filter((x) => x.resourceType === ResourceType.TRANSACTIONAL_ID)) put(r, entries(opts, [AclOperation.WRITE, AclOperation.DESCRIBE]));
    if (opts.idempotent === true) put({ resourceType: ResourceType.CLUSTER, name: CLUSTER_NAME, patternType: PatternType.LITERAL }, entries(opts, [AclOperation.IDEMPOTENT_WRITE]));
  }
  if (consumer) {
    for (const r of resources.filter((x) => x.resourceType === ResourceType.TOPIC)) put(r, entries(opts, [AclOperation.READ, AclOperation.DESCRIBE]));
    for (const r of resources.filter((x) => x.resourceType === ResourceType.GROUP)) put(r, entries(opts, [AclOperation.READ]));
  }
  for (const { pattern, entries: es } of out.values()) {
    const valid = [...(RESOURCE_OPERATIONS[pattern.resourceType] ?? []), AclOperation.ALL];
    if (es.some((e) => !valid.includes(e.operation))) {
      throw new CliError(`ResourceType ${enumName(ResourceType, pattern.resourceType)} only supports operations ${valid.map((o) => OPERATION_NAMES[o]).join(', ')}`);
    }
  }
  return out;
}

function checkArgs(opts: Opts): 'add' | 'remove' | 'list' {
  const actions = (['add', 'remove', 'list'] as const).filter((a) => opts[a] === true);
  if (actions.length !== 1) throw new CliError('Command must include exactly one action: --list, --add, --remove.');
  const action = actions[0]!;
  if (action === 'list') {
    for (const f of ['producer', 'consumer', 'allowHost', 'allowPrincipal', 'denyHost', 'denyPrincipal'] as const) {
      if (opts[f] !== undefined) throw new CliError(`Option "--list" can't be used with option "--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}"`);
    }
  }
  for (const role of ['producer', 'consumer'] as const) {
    if (opts[role] !== true) continue;
    for (const f of ['operation', 'denyPrincipal', 'denyHost'] as const) {
      if (opts[f] !== undefined) throw new CliError(`Option "--${role}" can't be used with option "--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}"`);
    }
  }
  if (opts.principal !== undefined && action !== 'list') throw new CliError('The --principal option is only available if --list is set');
  if (opts.producer === true && opts.topic === undefined) throw new CliError('With --producer you must specify a --topic');
  if (opts.idempotent === true && opts.producer !== true) throw new CliError('The --idempotent option is only available if --producer is set');
  if (opts.consumer === true && (opts.topic === undefined || opts.group === undefined || (opts.producer !== true && (opts.cluster === true || opts.transactionalId !== undefined)))) {
    throw new CliError('With --consumer you must specify a --topic and a --group and no --cluster or --transactional-id option should be specified.');
  }
  return action;
}

async function confirm(opts: Opts, question: string): Promise<boolean> {
  if (opts.force === true || !process.stdin.isTTY) return true;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(`${question}\n`)).trim().toLowerCase() === 'y';
  } finally {
    rl.close();
  }
}

export async function runAcls(opts: Opts): Promise<number> {
  const action = checkArgs(opts);
  const patternType = patternTypeOf(opts);
  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  const security = await clientSecurityOf(props);
  const { ClusterClient } = await import('../src/client/cluster-client.js');
  const sec = await import('../src/client/security-admin.js');
  const cluster = new ClusterClient({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'kfk-acls', ...(security ? { security } : {}) });
  try {
    if (action === 'add') {
      if (patternType !== PatternType.LITERAL && patternType !== PatternType.PREFIXED) {
        throw new CliError(`A '--resource-pattern-type' value of '${enumName(PatternType, patternType)}' is not valid when adding acls.`);
      }
      const plan = resourceToEntries(opts, patternType);
      if ([...plan.values()].some((p) => p.entries.length === 0)) throw new CliError('You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.');
      for (const { pattern, entries: es } of plan.values()) {
        await writeOut(block('Adding ACLs for resource', pattern, es));
        await sec.createAcls(cluster, es.map((e): AclBinding => ({ ...pattern, ...e })));
      }
    } else if (action === 'remove') {
      for (const { pattern, entries: es } of resourceToEntries(opts, patternType).values()) {
        const question =
          es.length === 0
            ? `Are you sure you want to delete all ACLs for resource filter \`${patternText(pattern)}\`? (y/n)`
            : `Are you sure you want to remove ACLs: \n ${es.map((e) => `\t${entryText(e)}`).join('\n')} \n from resource filter \`${patternText(pattern)}\`? (y/n)`;
        if (!(await confirm(opts, question))) continue;
        const base = { resourceType: pattern.resourceType, name: pattern.name, patternType: pattern.patternType };
        await sec.deleteAcls(
          cluster,
          es.length === 0
            ? [{ ...base, principal: null, host: null, operation: AclOperation.ANY, permissionType: PermissionType.ANY }]
            : es.map((e) => ({ ...base, principal: e.principal, host: e.host, operation: e.operation, permissionType: e.permissionType })),
        );
      }
    } else {
      const resources = resourcesOf(opts, patternType, false);
      const filters =
        resources.length === 0
          ? [{ resourceType: ResourceType.ANY, name: null, patternType: PatternType.ANY }]
          : resources.map((r) => ({ resourceType: r.resourceType, name: r.name as string | null, patternType: r.patternType }));
      const byResource = new Map<string, { pattern: ResourcePattern; entries: AccessControlEntry[] }>();
      for (const f of filters) {
        for (const b of await sec.describeAcls(cluster, { ...f, principal: null, host: null, operation: AclOperation.ANY, permissionType: PermissionType.ANY })) {
          const k = `${b.resourceType}\u0000${b.patternType}\u0000${b.name}`;
          const cur = byResource.get(k) ?? { pattern: { resourceType: b.resourceType, name: b.name, patternType: b.patternType }, entries: [] };
          cur.entries.push(b);
          byResource.set(k, cur);
        }
      }
      const principals = list(opts.principal).map(principal);
      let out = '';
      if (principals.length === 0) for (const { pattern, entries: es } of byResource.values()) out += block('Current ACLs for resource', pattern, es);
      for (const p of principals) {
        out += `ACLs for principal \`${p}\`\n`;
        for (const { pattern, entries: es } of byResource.values()) {
          const mine = es.filter((e) => e.principal === p);
          if (mine.length > 0) out += block('Current ACLs for resource', pattern, mine);
        }
      }
      await writeOut(out);
    }
    return 0;
  } catch (err) {
    if (err instanceof KafkaError && err.code !== ErrorCode.UNKNOWN_SERVER_ERROR) throw new CliError(err.message);
    throw err;
  } finally {
    await cluster.close();
  }
}
