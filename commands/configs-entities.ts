/**
 * kfk configs for users and client ids (kafka-configs.sh --bootstrap-server), the part of ConfigCommand that
 * manages SCRAM credentials and client quotas:
 *
 *   --alter --entity-type users --entity-name alice --add-config 'SCRAM-SHA-512=[iterations=8192,password=alice-secret]'
 *   --alter --entity-type users --entity-name alice --delete-config SCRAM-SHA-512
 *   --describe --entity-type users [--entity-name alice]
 *       SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-512=iterations=8192
 *
 * The password is salted in this process (AlterUserScramCredentials carries the salt and the salted password).
 * Quotas (producer_byte_rate, ...) for users, clients and users with clients go through Alter/DescribeClientQuotas.
 */
import { CliError, type Opts } from './common.js';
import type { Admin } from '../src/client/admin.js';
import type { QuotaEntity } from '../src/client/security-admin.js';
import { parseAddConfig, parseDeleteConfig } from './configs.js';

export const SCRAM_NAMES = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export const QUOTA_NAMES = ['producer_byte_rate', 'consumer_byte_rate', 'request_percentage', 'controller_mutation_rate'] as const;
const DEFAULT_ITERATIONS = 4096;
const MIN_ITERATIONS = 4096;

/** One entity of the command: a user or a client id; name null = the default entity, undefined = all (--describe). */
export interface QuotaEntityRef {
  readonly type: 'users' | 'clients';
  readonly name: string | null | undefined;
}

function asList(v: unknown): string[] {
  if (v === undefined || v === null || v === false) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

/**
 * The users and clients named on the command line, in order: --entity-type/--entity-name (or --entity-default)
 * pairs, then --user/--user-defaults and --client/--client-defaults. Null when the command is about topics or brokers.
 */
export function quotaEntitiesOf(opts: Opts): QuotaEntityRef[] | null {
  const types = asList(opts.entityType).map((t) => (t === 'user' ? 'users' : t === 'client' ? 'clients' : t));
  const out: QuotaEntityRef[] = [];
  if (types.some((t) => t === 'users' || t === 'clients')) {
    if (types.some((t) => t !== 'users' && t !== 'clients')) throw new CliError('--entity-type users and clients cannot be combined with other entity types');
    const names = asList(opts.entityName);
    const isDefault = opts.entityDefault === true;
    types.forEach((t, i) => {
      const name = names[i];
      if (name === undefined && !isDefault && opts.describe !== true) throw new CliError(`an entity name must be given for --entity-type ${t} (--entity-name or --entity-default)`);
      out.push({ type: t as 'users' | 'clients', name: name ?? (isDefault ? null : undefined) });
    });
  }
  for (const u of asList(opts.user)) out.push({ type: 'users', name: u });
  if (opts.userDefaults === true) out.push({ type: 'users', name: null });
  for (const c of asList(opts.client)) out.push({ type: 'clients', name: c });
  if (opts.clientDefaults === true) out.push({ type: 'clients', name: null });
  if (out.length === 0) return null;
  if (out.filter((e) => e.type === 'users').length > 1 || out.filter((e) => e.type === 'clients').length > 1) {
    throw new CliError('at most one user and one client id may be given');
  }
  return out.sort((a, b) => (a.type === b.type ? 0 : a.type === 'users' ? -1 : 1));
}

/** Kafka's `(?:iterations=N,)?password=P` credential value. */
export function parseScramValue(mechanism: string, value: string): { iterations: number; password: string } {
  const m = /^(?:iterations=(-?[0-9]*),)?password=(.*)$/s.exec(value);
  if (!m) throw new CliError(`Invalid credential property ${mechanism}=[hidden]: expected [iterations=<n>,]password=<password>`);
  const iterations = m[1] !== undefined && m[1] !== '' && m[1] !== '-1' ? Number(m[1]) : DEFAULT_ITERATIONS;
  if (iterations < MIN_ITERATIONS) throw new CliError(`Iterations ${iterations} is less than the minimum ${MIN_ITERATIONS} required for ${mechanism}`);
  return { iterations, password: m[2]! };
}

function quotaFilter(entities: readonly QuotaEntityRef[]): { user?: string | null; clientId?: string | null } {
  const f: { user?: string | null; clientId?: string | null } = {};
  for (const e of entities) {
    // an entity without a name (describe all of a type) is matched by type only: left to the broker's ANY match
    if (e.name === undefined) continue;
    if (e.type === 'users') f.user = e.name;
    else f.clientId = e.name;
  }
  return f;
}

/** `user-principal 'alice', client-id 'app'` / `the default user-principal`, as ConfigCommand names an entity. */
function entityText(e: QuotaEntity): string {
  const parts: string[] = [];
  if (e.user !== undefined) parts.push(e.user === null ? 'the default user-principal' : `user-principal '${e.user}'`);
  if (e.clientId !== undefined) parts.push(e.clientId === null ? 'the default client-id' : `client-id '${e.clientId}'`);
  return parts.join(', ');
}

/** A quota value as Java prints a double (1024 → 1024.0). */
function javaDouble(v: number): string {
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

/** Runs --describe or --alter for users and client ids; returns the lines to print. */
export async function runEntityConfigs(admin: Admin, entities: QuotaEntityRef[], opts: Opts, describe: boolean): Promise<string[]> {
  const sec = await import('../src/client/security-admin.js');
  const out: string[] = [];
  const users = entities.find((e) => e.type === 'users');
  const clients = entities.find((e) => e.type === 'clients');
  if (!describe && entities.some((e) => e.name === undefined)) throw new CliError('an entity name must be given with --alter (--entity-name or --entity-default)');
  if (describe) {
    const anyOf = entities.filter((e) => e.name === undefined).map((e) => (e.type === 'users' ? 'user' : 'client-id'));
    for (const q of await sec.describeClientQuotas(admin.cluster, quotaFilter(entities), true, anyOf)) {
      out.push(`Quota configs for ${entityText(q.entity)} are ${Object.entries(q.values).map(([k, v]) => `${k}=${javaDouble(v)}`).join(', ')}`);
    }
    // SCRAM credentials of a named user (or of all users), when no client id is named (as ConfigCommand)
    if (users !== undefined && clients === undefined && users.name !== null) {
      try {
        for (const u of await sec.describeUserScramCredentials(admin.cluster, users.name === undefined ? null : [users.name])) {
          out.push(`SCRAM credential configs for user-principal '${u.user}' are ${u.credentials.map((c) => `${c.mechanism}=iterations=${c.iterations}`).join(', ')}`);
        }
      } catch (err) {
        // a user without credentials (RESOURCE_NOT_FOUND) is reported as Kafka's tool reports it
        out.push(`Error retrieving SCRAM credential configs for user-principal '${users.name ?? ''}': ${(err as Error).message}`);
      }
    }
    return out;
  }
  const add = parseAddConfig(asList(opts.addConfig));
  const del = parseDeleteConfig(asList(opts.deleteConfig));
  const isScram = (k: string) => (SCRAM_NAMES as readonly string[]).includes(k);
  const isQuota = (k: string) => (QUOTA_NAMES as readonly string[]).includes(k);
  const unknownAdd = Object.keys(add).filter((k) => !isScram(k) && !isQuota(k));
  const unknownDel = del.filter((k) => !isScram(k) && !isQuota(k));
  const scramKeys = [...Object.keys(add), ...del].filter(isScram);
  if (clients !== undefined) {
    if (unknownAdd.length > 0 || Object.keys(add).some(isScram)) {
      throw new CliError(`Only quota configs can be added for 'clients' using --bootstrap-server. Unexpected config names: ${[...unknownAdd, ...Object.keys(add).filter(isScram)].join(',')}`);
    }
    if (unknownDel.length > 0 || del.some(isScram)) {
      throw new CliError(`Only quota configs can be deleted for 'clients' using --bootstrap-server. Unexpected config names: ${[...unknownDel, ...del.filter(isScram)].join(',')}`);
    }
  } else {
    if (unknownAdd.length > 0) throw new CliError(`Only quota and SCRAM credential configs can be added for 'users' using --bootstrap-server. Unexpected config names: ${unknownAdd.join(',')}`);
    if (unknownDel.length > 0) throw new CliError(`Only quota and SCRAM credential configs can be deleted for 'users' using --bootstrap-server. Unexpected config names: ${unknownDel.join(',')}`);
  }
  if (scramKeys.length > 0) {
    if (users?.name === null) throw new CliError('The use of --entity-default or --user-defaults is not allowed with User SCRAM Credentials using --bootstrap-server.');
    if ([...Object.keys(add), ...del].some(isQuota)) throw new CliError("Cannot alter both quota and SCRAM credential configs simultaneously for 'users' using --bootstrap-server.");
    const user = users!.name!;
    await sec.alterUserScramCredentials(admin.cluster, [
      ...del.filter(isScram).map((m) => ({ user, mechanism: m as (typeof SCRAM_NAMES)[number], delete: true as const })),
      ...Object.entries(add)
        .filter(([k]) => isScram(k))
        .map(([m, v]) => ({ user, mechanism: m as (typeof SCRAM_NAMES)[number], ...parseScramValue(m, v) })),
    ]);
  } else {
    const filter = quotaFilter(entities);
    if (del.length > 0) {
      // as ConfigCommand: only quotas that are set can be deleted
      const current = (await sec.describeClientQuotas(admin.cluster, filter))[0]?.values ?? {};
      const invalid = del.filter((k) => current[k] === undefined);
      if (invalid.length > 0) throw new CliError(`Invalid config(s): ${invalid.join(',')}`);
    }
    const set: Record<string, number> = {};
    for (const [k, v] of Object.entries(add)) {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new CliError(`Invalid value ${v} for configuration ${k}: Not a number of type ${k === 'request_percentage' ? 'DOUBLE' : 'LONG'}`);
      set[k] = n;
    }
    await sec.alterClientQuotas(admin.cluster, filter, set, del);
  }
  const first = entities[0]!;
  out.push(first.name === null ? `Completed updating default config for ${first.type} in the cluster.` : `Completed updating config for ${first.type.slice(0, -1)} ${first.name}.`);
  return out;
}
