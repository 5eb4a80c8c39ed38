/**
 * Settings kfk does not honour and must not ignore, because ignoring them would leave a broker less safe than
 * its configuration says: a listener the user believes is encrypted or authenticated would serve plaintext to
 * anyone; an authorizer or policy would silently allow everything. A broker refuses to start with any of them,
 * with a one-line ConfigError naming the setting (docs/limits.md, "Refused settings").
 *
 * Settings that only matter together with one of these (ssl.*, sasl.*, super.users, ...) are not refused on
 * their own: with PLAINTEXT listeners Kafka ignores them too. Replication settings (min.insync.replicas,
 * unclean.leader.election.enable) are honoured and never refused here.
 */
import type { BrokerConfig } from './broker-config.js';
import { ConfigError } from './config-def.js';

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

/** Every refused setting in the config, in a stable order (the first is reported). */
export function unsafeSettings(config: BrokerConfig): Refusal[] {
  const out: Refusal[] = [];
  for (const [key, listeners] of [
    ['listeners', config.listeners],
    ['advertised.listeners', config.advertisedListeners],
  ] as const) {
    for (const l of listeners) {
      if (l.securityProtocol === 'PLAINTEXT') continue;
      out.push({
        key,
        value: `${l.name}://${l.host}:${l.port}`,
        why: `listener ${l.name} uses security protocol ${l.securityProtocol}, but kfk serves PLAINTEXT only (no TLS, no SASL yet) and would accept unencrypted, unauthenticated clients on it; use a PLAINTEXT listener`,
      });
    }
  }
  const raw = config.originals;
  const classSettings: [string, string][] = [
    ['authorizer.class.name', 'kfk has no authorizer: every client could do everything'],
    ['create.topic.policy.class.name', 'kfk has no create-topic policies: every topic creation would be allowed'],
    ['alter.config.policy.class.name', 'kfk has no alter-config policies: every config change would be allowed'],
  ];
  for (const [key, why] of classSettings) {
    const v = nonEmpty(config.values[key] ?? raw[key]);
    if (v !== null) out.push({ key, value: v, why: `${why}; remove the setting` });
  }
  if (isTrue(config.values['zookeeper.set.acl'] ?? raw['zookeeper.set.acl'])) {
    out.push({ key: 'zookeeper.set.acl', value: 'true', why: 'kfk creates znodes with open ACLs (it has no ZooKeeper authentication); remove the setting or set it to false' });
  }
  if (isTrue(raw['zookeeper.ssl.client.enable'])) {
    out.push({ key: 'zookeeper.ssl.client.enable', value: 'true', why: 'kfk connects to ZooKeeper without TLS; remove the setting or set it to false' });
  }
  return out;
}

/** Throws a ConfigError naming the first refused setting. */
export function refuseUnsafeSettings(config: BrokerConfig): void {
  const [first] = unsafeSettings(config);
  if (first) throw ConfigError.invalid(first.key, first.value, `not supported: ${first.why}`);
}
