/**
 * What each listener of a broker needs to secure its connections, read from the broker's properties as Kafka
 * reads them: a listener's own setting (listener.name.<listener>.<key>, the listener name in lower case) wins over
 * the broker-wide <key>; the SASL JAAS line is per listener and mechanism
 * (listener.name.<listener>.<mechanism>.sasl.jaas.config), as Kafka requires on brokers.
 *
 * Everything is validated at start-up: a listener that cannot be secured as configured stops the broker with a
 * ConfigError naming the setting (docs/security.md, docs/limits.md). Passwords are never part of a message.
 */
import { ConfigError } from '../config/config-def.js';
import type { BrokerConfig, Listener, SecurityProtocol } from '../config/broker-config.js';
import { JaasError, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE, loginCredentials, parseJaasConfig, plainUsers, type JaasModule } from './jaas.js';
import { loadTlsMaterial, setting, type SettingSource, type TlsMaterial } from './ssl-settings.js';
import { SslPrincipalMapper } from './ssl-principal.js';
import { clientSecurityFrom, type ClientSecurity } from './client-security.js';

/** The SASL mechanisms kfk implements. */
export const SUPPORTED_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

export type ClientAuth = 'required' | 'requested' | 'none';

export interface ListenerTls {
  readonly source: SettingSource;
  readonly material: TlsMaterial;
  readonly clientAuth: ClientAuth;
  readonly principalMapper: SslPrincipalMapper;
}

export interface ListenerSasl {
  readonly mechanisms: readonly string[];
  /** PLAIN's users (from the PLAIN JAAS line), when PLAIN is enabled. */
  readonly plainUsers: ReadonlyMap<string, string> | null;
  readonly reauthMs: number;
  readonly failedAuthenticationDelayMs: number;
  readonly maxReceiveBytes: number;
}

export interface ListenerSecurity {
  readonly name: string;
  readonly protocol: SecurityProtocol;
  readonly tls: ListenerTls | null;
  readonly sasl: ListenerSasl | null;
}

const PREFIX = 'listener.name.';
const DEFAULT_PRINCIPAL_BUILDER = 'org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder';

/** The prefix of a listener's own settings: listener.name.<name in lower case>. */
export function listenerPrefix(listenerName: string): string {
  return `${PREFIX}${listenerName.toLowerCase()}.`;
}

/** A listener's view of the broker's properties: its prefixed setting wins over the broker-wide one. */
export function listenerSource(props: Readonly<Record<string, string>>, listenerName: string): SettingSource {
  const prefix = listenerPrefix(listenerName);
  return {
    raw: (key) => props[prefix + key] ?? props[key],
    name: (key) => (props[prefix + key] !== undefined ? prefix + key : key),
  };
}

/** A listener's view for one SASL mechanism: listener.name.<l>.<mechanism>.<key>, then listener.name.<l>.<key>, then <key>. */
function mechanismSource(props: Readonly<Record<string, string>>, listenerName: string, mechanism: string): SettingSource {
  const l = listenerSource(props, listenerName);
  const prefix = `${listenerPrefix(listenerName)}${mechanism.toLowerCase()}.`;
  return { raw: (key) => props[prefix + key] ?? l.raw(key), name: (key) => (props[prefix + key] !== undefined ? prefix + key : l.name(key)) };
}

function intSetting(src: SettingSource, key: string, dflt: number, min: number): number {
  const v = setting(src, key);
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) throw ConfigError.invalid(src.name(key), v, `must be an integer of at least ${min}`);
  return Number(v);
}

/** The JAAS module configured for a listener and mechanism, or null. Throws a ConfigError that names the key. */
export function listenerJaas(props: Readonly<Record<string, string>>, listenerName: string, mechanism: string): JaasModule | null {
  const key = `${listenerPrefix(listenerName)}${mechanism.toLowerCase()}.sasl.jaas.config`;
  const value = props[key];
  if (value === undefined || value.trim() === '') return null;
  try {
    return parseJaasConfig(value);
  } catch (err) {
    if (err instanceof JaasError) throw new ConfigError(`Invalid value [hidden] for configuration ${key}: ${err.message}`, key);
    throw err;
  }
}

function clientAuthOf(props: Readonly<Record<string, string>>, l: Listener): ClientAuth {
  // Kafka (KIP-684): on SASL_SSL listeners only the listener's own ssl.client.auth counts, the broker-wide one not
  const prefixed = props[`${listenerPrefix(l.name)}ssl.client.auth`];
  const raw = l.securityProtocol === 'SASL_SSL' ? prefixed : (prefixed ?? props['ssl.client.auth']);
  const v = (raw ?? 'none').trim().toLowerCase();
  if (v !== 'required' && v !== 'requested' && v !== 'none') {
    const key = prefixed !== undefined ? `${listenerPrefix(l.name)}ssl.client.auth` : 'ssl.client.auth';
    throw ConfigError.invalid(key, raw, 'String must be one of: required, requested, none');
  }
  return v;
}

function refuseClassSetting(src: SettingSource, key: string): void {
  const v = setting(src, key);
  if (v !== undefined) throw ConfigError.invalid(src.name(key), v, 'not supported: kfk cannot load Java classes; remove the setting');
}

function listenerTls(props: Readonly<Record<string, string>>, l: Listener): ListenerTls {
  const src = listenerSource(props, l.name);
  const material = loadTlsMaterial(src, { requireKeystore: true, role: `listener ${l.name} (${l.securityProtocol})` });
  const clientAuth = clientAuthOf(props, l);
  if (clientAuth !== 'none' && !material.hasTruststore) {
    // Java would fall back to its cacerts; a client CA must be named for client certificates to mean anything
    throw new ConfigError(`listener ${l.name} has ssl.client.auth=${clientAuth} but no truststore: set ${src.name('ssl.truststore.location')} (the CA that signs client certificates)`, src.name('ssl.truststore.location'));
  }
  const rules = setting(src, 'ssl.principal.mapping.rules') ?? 'DEFAULT';
  let principalMapper: SslPrincipalMapper;
  try {
    principalMapper = new SslPrincipalMapper(rules);
  } catch (err) {
    throw ConfigError.invalid(src.name('ssl.principal.mapping.rules'), rules, (err as Error).message);
  }
  return { source: src, material, clientAuth, principalMapper };
}

function listenerSasl(props: Readonly<Record<string, string>>, l: Listener, config: BrokerConfig): ListenerSasl {
  const src = listenerSource(props, l.name);
  const key = 'sasl.enabled.mechanisms';
  const raw = setting(src, key) ?? (config.values['sasl.enabled.mechanisms'] as string[]).join(',');
  const mechanisms = raw
    .split(',')
    .map((m) => m.trim().toUpperCase())
    .filter((m) => m !== '');
  if (mechanisms.length === 0) throw ConfigError.invalid(src.name(key), raw, `listener ${l.name} (${l.securityProtocol}) needs at least one SASL mechanism`);
  for (const m of mechanisms) {
    if (!(SUPPORTED_SASL_MECHANISMS as readonly string[]).includes(m)) {
      const dflt = setting(src, key) === undefined ? ` (GSSAPI is Kafka's default when ${key} is not set)` : '';
      throw ConfigError.invalid(src.name(key), raw, `not supported: ${m}${dflt}; kfk offers ${SUPPORTED_SASL_MECHANISMS.join(', ')}`);
    }
    const ms = mechanismSource(props, l.name, m);
    refuseClassSetting(ms, 'sasl.server.callback.handler.class');
  }
  let users: Map<string, string> | null = null;
  if (mechanisms.includes('PLAIN')) {
    const jaasKey = `${listenerPrefix(l.name)}plain.sasl.jaas.config`;
    const jaas = listenerJaas(props, l.name, 'PLAIN');
    if (jaas === null) {
      throw new ConfigError(`listener ${l.name} enables PLAIN but ${jaasKey} is not set: its user_<name>="<password>" options are the users PLAIN accepts`, jaasKey);
    }
    if (jaas.loginModule !== PLAIN_LOGIN_MODULE) {
      throw new ConfigError(`Invalid value [hidden] for configuration ${jaasKey}: PLAIN needs ${PLAIN_LOGIN_MODULE} (kfk cannot load ${jaas.loginModule})`, jaasKey);
    }
    users = plainUsers(jaas);
  }
  for (const m of mechanisms.filter((x) => x.startsWith('SCRAM-'))) {
    const jaas = listenerJaas(props, l.name, m);
    if (jaas !== null && jaas.loginModule !== SCRAM_LOGIN_MODULE) {
      const jaasKey = `${listenerPrefix(l.name)}${m.toLowerCase()}.sasl.jaas.config`;
      throw new ConfigError(`Invalid value [hidden] for configuration ${jaasKey}: ${m} needs ${SCRAM_LOGIN_MODULE} (kfk cannot load ${jaas.loginModule})`, jaasKey);
    }
  }
  // connections.max.reauth.ms may be per mechanism too; kfk takes the listener's (or the broker's) value
  const reauthMs = intSetting(src, 'connections.max.reauth.ms', Number(config.values['connections.max.reauth.ms'] ?? 0), 0);
  return {
    mechanisms,
    plainUsers: users,
    reauthMs,
    failedAuthenticationDelayMs: intSetting(src, 'connection.failed.authentication.delay.ms', Number(config.values['connection.failed.authentication.delay.ms'] ?? 100), 0),
    maxReceiveBytes: intSetting(src, 'sasl.server.max.receive.size', Number(config.values['sasl.server.max.receive.size'] ?? 524288), 1),
  };
}

/** Every listener's security, validated (ConfigError on the first problem). */
export function listenerSecurities(config: BrokerConfig): ListenerSecurity[] {
  const props = config.originals;
  const out: ListenerSecurity[] = [];
  const builder = props['principal.builder.class']?.trim();
  if (builder !== undefined && builder !== '' && builder !== DEFAULT_PRINCIPAL_BUILDER) {
    throw ConfigError.invalid('principal.builder.class', builder, `not supported: kfk builds principals as ${DEFAULT_PRINCIPAL_BUILDER} does and cannot load Java classes`);
  }
  for (const l of config.listeners) {
    const p = l.securityProtocol;
    const tls = p === 'SSL' || p === 'SASL_SSL' ? listenerTls(props, l) : null;
    const sasl = p === 'SASL_PLAINTEXT' || p === 'SASL_SSL' ? listenerSasl(props, l, config) : null;
    out.push({ name: l.name, protocol: p, tls, sasl });
  }
  return out;
}

/**
 * How this broker connects to the others (replica fetchers, the controller channel): as a client of the
 * inter-broker listener, with that listener's ssl.* (its truststore trusts the other brokers, its keystore is the
 * client certificate) and, for SASL, sasl.mechanism.inter.broker.protocol with the username and password of
 * listener.name.<inter-broker listener>.<mechanism>.sasl.jaas.config, as Kafka. Throws a ConfigError naming what is
 * missing.
 */
export function interBrokerClientSecurity(config: BrokerConfig): ClientSecurity {
  const props = config.originals;
  const name = config.interBrokerListenerName;
  const src = listenerSource(props, name);
  const mechanism = String(config.values['sasl.mechanism.inter.broker.protocol'] ?? 'GSSAPI');
  const p = config.interBrokerSecurityProtocol;
  if (p === 'SASL_PLAINTEXT' || p === 'SASL_SSL') {
    // Kafka: the inter-broker mechanism must be one the inter-broker listener enables
    const enabled = (setting(src, 'sasl.enabled.mechanisms') ?? (config.values['sasl.enabled.mechanisms'] as string[]).join(','))
      .split(',')
      .map((m) => m.trim().toUpperCase());
    if (!enabled.includes(mechanism.toUpperCase())) {
      throw ConfigError.invalid('sasl.mechanism.inter.broker.protocol', mechanism, `must be included in ${src.name('sasl.enabled.mechanisms')} when SASL is used for inter-broker communication (listener ${name})`);
    }
  }
  return clientSecurityFrom(
    {
      ...src,
      jaas: (m) => {
        const key = `${listenerPrefix(name)}${m.toLowerCase()}.sasl.jaas.config`;
        return { value: props[key], key };
      },
    },
    config.interBrokerSecurityProtocol,
    mechanism,
    'sasl.mechanism.inter.broker.protocol',
  );
}
