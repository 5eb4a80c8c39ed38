/**
 * A client's security, from the properties Kafka's clients take (--command-config, --producer.config, ...):
 *
 *   security.protocol   PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
 *   sasl.mechanism      PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
 *   sasl.jaas.config    org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p";
 *   ssl.truststore.*, ssl.keystore.*, ssl.key.password, ssl.endpoint.identification.algorithm, ssl.enabled.protocols
 *
 * Brokers use the same shape for their connections to each other (inter-broker listener, its ssl.* and the
 * sasl.mechanism.inter.broker.protocol JAAS line). What kfk cannot do (GSSAPI, OAUTHBEARER, Java callback
 * classes, JKS) is refused with a message naming the setting, never silently sent in plaintext.
 */
import type { ConnectionOptions } from 'node:tls';
import { ConfigError } from '../config/config-def.js';
import { JaasError, loginCredentials, parseJaasConfig } from './jaas.js';
import { clientTlsOptions, loadTlsMaterial, propertiesSource, setting, verifiesHostname, type SettingSource } from './ssl-settings.js';

/** Kafka's security protocols (as broker-config.ts; repeated so that clients do not load the broker's config table). */
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

export const CLIENT_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ClientSaslMechanism = (typeof CLIENT_SASL_MECHANISMS)[number];

export interface SaslCredentials {
  readonly mechanism: ClientSaslMechanism;
  readonly username: string;
  readonly password: string;
}

export interface ClientSecurity {
  readonly protocol: SecurityProtocol;
  /** For SSL and SASL_SSL: tls.connect options (trust anchors, our certificate, versions, host name check). */
  readonly tls?: ConnectionOptions;
  /** For SASL_PLAINTEXT and SASL_SSL. */
  readonly sasl?: SaslCredentials;
}

export const PLAINTEXT_SECURITY: ClientSecurity = { protocol: 'PLAINTEXT' };

/** Settings of the client's security, however named (a broker's inter-broker settings carry listener prefixes). */
export interface ClientSecuritySource extends SettingSource {
  /** The JAAS line for the mechanism and its key (clients: sasl.jaas.config; brokers: listener.name.<l>.<mechanism>.sasl.jaas.config). */
  jaas(mechanism: string): { value: string | undefined; key: string };
}

function refuseClass(src: SettingSource, key: string): void {
  const v = setting(src, key);
  if (v !== undefined) throw ConfigError.invalid(src.name(key), v, 'not supported: kfk cannot load Java classes; remove the setting');
}

/** A client's security from a SettingSource; throws ConfigError. */
export function clientSecurityFrom(src: ClientSecuritySource, protocolValue: string | undefined, mechanismValue: string | undefined, mechanismKey: string): ClientSecurity {
  const protocol = (protocolValue ?? 'PLAINTEXT').trim().toUpperCase();
  if (!(SECURITY_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw ConfigError.invalid('security.protocol', protocolValue, `String must be one of: ${SECURITY_PROTOCOLS.join(', ')}`);
  }
  const p = protocol as SecurityProtocol;
  let tls: ConnectionOptions | undefined;
  if (p === 'SSL' || p === 'SASL_SSL') {
    refuseClass(src, 'ssl.engine.factory.class');
    const material = loadTlsMaterial(src, { requireKeystore: false, role: 'the client' });
    tls = clientTlsOptions(material, verifiesHostname(src));
  }
  let sasl: SaslCredentials | undefined;
  if (p === 'SASL_PLAINTEXT' || p === 'SASL_SSL') {
    const mechanism = (mechanismValue ?? 'GSSAPI').trim().toUpperCase();
    if (!(CLIENT_SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      const dflt = mechanismValue === undefined ? ` (GSSAPI is Kafka's default when ${mechanismKey} is not set)` : '';
      throw ConfigError.invalid(mechanismKey, mechanismValue ?? 'GSSAPI', `not supported${dflt}: kfk offers ${CLIENT_SASL_MECHANISMS.join(', ')}`);
    }
    refuseClass(src, 'sasl.login.callback.handler.class');
    refuseClass(src, 'sasl.client.callback.handler.class');
    refuseClass(src, 'sasl.login.class');
    const jaas = src.jaas(mechanism);
    const jaasValue = jaas.value;
    if (jaasValue === undefined || jaasValue.trim() === '') throw new ConfigError(`SASL ${mechanism} needs ${jaas.key} with a username and a password`, jaas.key);
    let creds: { username: string; password: string } | null;
    try {
      creds = loginCredentials(parseJaasConfig(jaasValue));
    } catch (err) {
      if (err instanceof JaasError) throw new ConfigError(`Invalid value [hidden] for configuration ${jaas.key}: ${err.message}`, jaas.key);
      throw err;
    }
    if (creds === null) throw new ConfigError(`Invalid value [hidden] for configuration ${jaas.key}: username and password options are required`, jaas.key);
    sasl = { mechanism: mechanism as ClientSaslMechanism, ...creds };
  }
  return { protocol: p, ...(tls ? { tls } : {}), ...(sasl ? { sasl } : {}) };
}

/** A client's security from its properties file (Kafka's client config keys). Throws ConfigError. */
export function clientSecurityFromProperties(props: Readonly<Record<string, string>>): ClientSecurity {
  const base = propertiesSource(props);
  const src: ClientSecuritySource = {
    ...base,
    jaas: () => ({ value: setting(base, 'sasl.jaas.config'), key: 'sasl.jaas.config' }),
  };
  return clientSecurityFrom(src, setting(base, 'security.protocol'), setting(base, 'sasl.mechanism'), 'sasl.mechanism');
}

/** Whether the client talks anything but plain TCP without authentication. */
export function isSecured(s: ClientSecurity | undefined): boolean {
  return s !== undefined && s.protocol !== 'PLAINTEXT';
}
