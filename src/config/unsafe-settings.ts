/**
 * Settings kfk does not honour and must not ignore, because ignoring them would leave a broker less safe than
 * its configuration says: a policy would silently allow everything, ZooKeeper ACLs or TLS would be missing. A
 * broker refuses to start with any of them, with a one-line ConfigError naming the setting (docs/limits.md,
 * "Refused settings").
 *
 * Listeners' security (TLS, SASL) is honoured; what a listener asks for that kfk cannot give (JKS stores, GSSAPI,
 * Java classes) is refused by src/security/listener-security.ts when the broker starts. Replication settings
 * (min.insync.replicas, unclean.leader.election.enable) are honoured and never refused here.
 */
import type { BrokerConfig } from './broker-config.js';
import { ConfigError } from './config-def.js';
import { ACL_AUTHORIZER_CLASSES } from '../security/acl.js';

interface Refusal {
  readonly key: string;
  readonly value: string;
  readonly why: string;
}

function nonEmpty(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  const s = String(v).trim();
  return s === '' ? null : s;
}

function isTrue(v: unknown): boolean {
  return String(v ?? '').trim().toLowerCase() === 'true';
}

/** The settings refused whatever the listeners (class names, ZooKeeper security), from raw properties. */
function otherRefusals(values: Record<string, unknown>): Refusal[] {
  const out: Refusal[] = [];
  const authorizer = nonEmpty(values['authorizer.class.name']);
  if (authorizer !== null && !(ACL_AUTHORIZER_CLASSES as readonly string[]).includes(authorizer)) {
    out.push({ key: 'authorizer.class.name', value: authorizer, why: `kfk cannot load Java classes; its ACL authorizer is ${ACL_AUTHORIZER_CLASSES[0]} (docs/security.md)` });
  }
  const classSettings: [string, string][] = [
    ['create.topic.policy.class.name', 'kfk has no create-topic policies: every topic creation would be allowed'],
    ['alter.config.policy.class.name', 'kfk has no alter-config policies: every config change would be allowed'],
  ];
  for (const [key, why] of classSettings) {
    const v = nonEmpty(values[key]);
    if (v !== null) out.push({ key, value: v, why: `${why}; remove the setting` });
  }
  if (isTrue(values['zookeeper.set.acl'])) {
    out.push({ key: 'zookeeper.set.acl', value: 'true', why: 'kfk creates znodes with open ACLs (it has no ZooKeeper authentication); remove the setting or set it to false' });
  }
  if (isTrue(values['zookeeper.ssl.client.enable'])) {
    out.push({ key: 'zookeeper.ssl.client.enable', value: 'true', why: 'kfk connects to ZooKeeper without TLS; remove the setting or set it to false' });
  }
  return out;
}

/** Every refused setting of a typed config, in a stable order (the first is reported). */
export function unsafeSettings(config: BrokerConfig): Refusal[] {
  return otherRefusals({ ...config.originals, ...config.values });
}

/** The same check on raw properties, before Kafka's own validation runs. */
export function unsafeProperties(raw: Record<string, string>): Refusal[] {
  return otherRefusals(raw);
}

function refuse(refusals: Refusal[]): void {
  const [first] = refusals;
  if (first) throw ConfigError.invalid(first.key, first.value, `not supported: ${first.why}`);
}

/** Throws a ConfigError naming the first refused setting of a typed config. */
export function refuseUnsafeSettings(config: BrokerConfig): void {
  refuse(unsafeSettings(config));
}

/** Throws a ConfigError naming the first refused setting among raw properties (start-up, before validation). */
export function refuseUnsafeProperties(raw: Record<string, string>): void {
  refuse(unsafeProperties(raw));
}
