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
import { BROKER_CONFIG_DEF_MAP, parseListeners, parseSecurityProtocolMap, type BrokerConfig, type Listener } from './broker-config.js';
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

function listenerRefusal(key: string, l: Listener): Refusal {
  return {
    key,
    value: `${l.name}://${l.host}:${l.port}`,
    why: `listener ${l.name} uses security protocol ${l.securityProtocol}, but kfk serves PLAINTEXT only (no TLS, no SASL yet) and would accept unencrypted, unauthenticated clients on it; use a PLAINTEXT listener`,
  };
}

/** The settings refused whatever the listeners (class names, ZooKeeper security), from raw properties. */
function otherRefusals(values: Record<string, unknown>): Refusal[] {
  const out: Refusal[] = [];
  const classSettings: [string, string][] = [
    ['authorizer.class.name', 'kfk has no authorizer: every client could do everything'],
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
  const out: Refusal[] = [];
  for (const [key, listeners] of [
    ['listeners', config.listeners],
    ['advertised.listeners', config.advertisedListeners],
  ] as const) {
    // advertised listeners not set explicitly are the listeners again: report those once
    if (key === 'advertised.listeners' && !config.explicit.has(key)) continue;
    for (const l of listeners) if (l.securityProtocol !== 'PLAINTEXT') out.push(listenerRefusal(key, l));
  }
  out.push(...otherRefusals({ ...config.originals, ...config.values }));
  return out;
}

/**
 * The same check on raw properties, before Kafka's own validation runs: that validation would otherwise
 * report an SSL-only listener list as an inter-broker listener problem, not name the listener. Values that
 * do not parse are left to that validation.
 */
export function unsafeProperties(raw: Record<string, string>): Refusal[] {
  const out: Refusal[] = [];
  let protocols: ReturnType<typeof parseSecurityProtocolMap> | null;
  try {
    protocols = parseSecurityProtocolMap(raw['listener.security.protocol.map'] ?? String(BROKER_CONFIG_DEF_MAP.get('listener.security.protocol.map')!.default));
  } catch {
    protocols = null;
  }
  for (const key of ['listeners', 'advertised.listeners']) {
    const value = raw[key];
    if (value === undefined || protocols === null) continue;
    try {
      for (const l of parseListeners(value, protocols, key)) if (l.securityProtocol !== 'PLAINTEXT') out.push(listenerRefusal(key, l));
    } catch {
      // malformed: the full validation names it
    }
  }
  out.push(...otherRefusals(raw));
  return out;
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
