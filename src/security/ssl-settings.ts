/**
 * Kafka's ssl.* settings, turned into Node TLS options, for a broker listener and for a client alike:
 *
 * - keystore (our certificate): ssl.keystore.type PEM (ssl.keystore.location holding the private key and the
 *   chain, or inline ssl.keystore.key + ssl.keystore.certificate.chain; an encrypted key with ssl.key.password)
 *   or PKCS12 (ssl.keystore.location + ssl.keystore.password);
 * - truststore (whom we trust): PEM (ssl.truststore.location, or inline ssl.truststore.certificates) or PKCS12
 *   (ssl.truststore.location, ssl.truststore.password); none: the system's CAs, as Java's default truststore;
 * - ssl.enabled.protocols → the TLS versions offered; ssl.endpoint.identification.algorithm https (default) checks
 *   the server's host name, empty does not.
 *
 * JKS, Kafka's default store type, cannot be read without a JVM: it is refused with a message naming the setting
 * and the keytool command that converts the store (docs/security.md). So are ssl.cipher.suites (Java suite names,
 * which Node does not take) and ssl.engine.factory.class: ignoring them would offer more than configured.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions, type SecureContextOptions } from 'node:tls';
import { ConfigError } from '../config/config-def.js';
import { Pkcs12Error, certificatesToPem, pkcs12Certificates } from './pkcs12.js';

/**
 * Where settings come from. `raw` is the value as given (possibly empty), undefined when unset; `name` is the key
 * the value came from (with a listener prefix, if any), for messages.
 */
export interface SettingSource {
  raw(key: string): string | undefined;
  name(key: string): string;
}

/** A plain map of properties as a SettingSource (clients: --command-config files). */
export function propertiesSource(props: Readonly<Record<string, string>>): SettingSource {
  return { raw: (key) => props[key], name: (key) => key };
}

/** A setting's value, undefined when unset or empty (Kafka treats an empty value as not set for these). */
export function setting(src: SettingSource, key: string): string | undefined {
  const v = src.raw(key);
  return v === undefined || v.trim() === '' ? undefined : v;
}

const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
type TlsVersion = (typeof TLS_VERSIONS)[number];

export interface TlsMaterial {
  /** Options for tls.createSecureContext (key, cert / pfx, passphrase, ca, minVersion, maxVersion). */
  readonly options: SecureContextOptions;
  /** Files the options were read from: a change means the material must be read again. */
  readonly files: readonly string[];
  /** Whether a keystore (our own certificate) was configured. */
  readonly hasKeystore: boolean;
  /** Whether a truststore was configured (else the system's CAs). */
  readonly hasTruststore: boolean;
}

const JKS_HINT =
  'kfk reads PEM and PKCS12 stores only (JKS needs a JVM); convert the store with ' +
  "'keytool -importkeystore -srckeystore <file>.jks -destkeystore <file>.p12 -deststoretype PKCS12' and set the type to PKCS12, or use PEM";

function storeType(src: SettingSource, key: string): 'PEM' | 'PKCS12' {
  const raw = (setting(src, key) ?? 'JKS').trim().toUpperCase();
  if (raw === 'PEM' || raw === 'PKCS12') return raw;
  if (raw === 'JKS') {
    const given = setting(src, key) === undefined ? ` (JKS is Kafka's default when ${key} is not set)` : '';
    throw ConfigError.invalid(src.name(key), 'JKS', `not supported${given}: ${JKS_HINT}`);
  }
  throw ConfigError.invalid(src.name(key), setting(src, key), 'not supported: kfk reads PEM and PKCS12 stores');
}

function readSettingFile(src: SettingSource, key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw ConfigError.invalid(src.name(key), path, `cannot read the file: ${why}`);
  }
}

function protocolRange(src: SettingSource): { minVersion: TlsVersion; maxVersion: TlsVersion } {
  const key = 'ssl.enabled.protocols';
  const raw = setting(src, key) ?? 'TLSv1.2,TLSv1.3';
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const idx = list.map((p) => {
    const i = TLS_VERSIONS.findIndex((v) => v.toLowerCase() === p.toLowerCase());
    if (i < 0) throw ConfigError.invalid(src.name(key), raw, `unknown protocol ${p} (kfk offers ${TLS_VERSIONS.join(', ')})`);
    return i;
  });
  if (idx.length === 0) throw ConfigError.invalid(src.name(key), raw, 'no protocol enabled');
  const lo = Math.min(...idx);
  const hi = Math.max(...idx);
  // Node takes a range: a list with a hole (TLSv1,TLSv1.3) would enable the versions in between
  for (let i = lo; i <= hi; i++) {
    if (!idx.includes(i)) throw ConfigError.invalid(src.name(key), raw, `kfk enables a contiguous range of TLS versions; add ${TLS_VERSIONS[i]} or remove the gap`);
  }
  return { minVersion: TLS_VERSIONS[lo]!, maxVersion: TLS_VERSIONS[hi]! };
}

function refuseUnsupported(src: SettingSource): void {
  const ciphers = setting(src, 'ssl.cipher.suites');
  if (ciphers !== undefined) {
    throw ConfigError.invalid(src.name('ssl.cipher.suites'), ciphers, 'not supported: kfk uses the TLS library\'s default cipher suites; remove the setting');
  }
  const engine = setting(src, 'ssl.engine.factory.class');
  if (engine !== undefined) throw ConfigError.invalid(src.name('ssl.engine.factory.class'), engine, 'not supported: kfk cannot load Java classes; remove the setting');
}

/**
 * The TLS material described by ssl.* settings. Throws a ConfigError naming the setting at fault (never
 * echoing a password or a key). `requireKeystore`: a broker listener must present a certificate.
 */
export function loadTlsMaterial(src: SettingSource, opts: { requireKeystore: boolean; role: string }): TlsMaterial {
  refuseUnsupported(src);
  const files: string[] = [];
  const options: SecureContextOptions = { ...protocolRange(src) };
  let hasKeystore = false;

  // ---- keystore
  const inlineKey = setting(src, 'ssl.keystore.key');
  const inlineChain = setting(src, 'ssl.keystore.certificate.chain');
  const keystoreLocation = setting(src, 'ssl.keystore.location');
  const keyPassword = setting(src, 'ssl.key.password');
  if (inlineKey !== undefined || inlineChain !== undefined) {
    if (inlineKey === undefined || inlineChain === undefined) {
      const missing = inlineKey === undefined ? 'ssl.keystore.key' : 'ssl.keystore.certificate.chain';
      throw new ConfigError(`${src.name(missing)} must be set together with ${src.name(missing === 'ssl.keystore.key' ? 'ssl.keystore.certificate.chain' : 'ssl.keystore.key')}`, src.name(missing));
    }
    if (storeType(src, 'ssl.keystore.type') !== 'PEM') {
      throw ConfigError.invalid(src.name('ssl.keystore.type'), setting(src, 'ssl.keystore.type'), 'inline ssl.keystore.key and ssl.keystore.certificate.chain need ssl.keystore.type=PEM');
    }
    if (keystoreLocation !== undefined) {
      throw new ConfigError(`${src.name('ssl.keystore.location')} cannot be set together with ${src.name('ssl.keystore.key')}`, src.name('ssl.keystore.location'));
    }
    options.key = inlineKey;
    options.cert = inlineChain;
    if (keyPassword !== undefined) options.passphrase = keyPassword;
    hasKeystore = true;
  } else if (keystoreLocation !== undefined) {
    const type = storeType(src, 'ssl.keystore.type');
    const data = readSettingFile(src, 'ssl.keystore.location', keystoreLocation);
    files.push(keystoreLocation);
    if (type === 'PEM') {
      if (setting(src, 'ssl.keystore.password') !== undefined) {
        throw new ConfigError(`${src.name('ssl.keystore.password')} cannot be used with a PEM keystore: an encrypted key takes ${src.name('ssl.key.password')}`, src.name('ssl.keystore.password'));
      }
      const text = data.toString('utf8');
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) || !text.includes('-----BEGIN CERTIFICATE-----')) {
        throw ConfigError.invalid(src.name('ssl.keystore.location'), keystoreLocation, 'a PEM keystore must hold the private key and the certificate chain');
      }
      options.key = text;
      options.cert = text;
      if (keyPassword !== undefined) options.passphrase = keyPassword;
    } else {
      options.pfx = data;
      const pw = setting(src, 'ssl.keystore.password') ?? keyPassword;
      if (pw !== undefined) options.passphrase = pw;
    }
    hasKeystore = true;
  } else if (opts.requireKeystore) {
    throw new ConfigError(`${opts.role} needs a certificate: set ${src.name('ssl.keystore.location')} (with ${src.name('ssl.keystore.type')}=PEM or PKCS12) or ${src.name('ssl.keystore.key')} and ${src.name('ssl.keystore.certificate.chain')}`, src.name('ssl.keystore.location'));
  }

  // ---- truststore
  let hasTruststore = false;
  const inlineCerts = setting(src, 'ssl.truststore.certificates');
  const truststoreLocation = setting(src, 'ssl.truststore.location');
  if (inlineCerts !== undefined) {
    if (storeType(src, 'ssl.truststore.type') !== 'PEM') {
      throw ConfigError.invalid(src.name('ssl.truststore.type'), setting(src, 'ssl.truststore.type'), 'inline ssl.truststore.certificates need ssl.truststore.type=PEM');
    }
    options.ca = inlineCerts;
    hasTruststore = true;
  } else if (truststoreLocation !== undefined) {
    const type = storeType(src, 'ssl.truststore.type');
    const data = readSettingFile(src, 'ssl.truststore.location', truststoreLocation);
    files.push(truststoreLocation);
    if (type === 'PEM') {
      if (!data.toString('utf8').includes('-----BEGIN CERTIFICATE-----')) {
        throw ConfigError.invalid(src.name('ssl.truststore.location'), truststoreLocation, 'a PEM truststore must hold certificates (-----BEGIN CERTIFICATE-----)');
      }
      options.ca = data.toString('utf8');
    } else {
      try {
        const certs = pkcs12Certificates(data, setting(src, 'ssl.truststore.password') ?? null);
        if (certs.length === 0) throw new Pkcs12Error('it holds no certificate');
        options.ca = certificatesToPem(certs);
      } catch (err) {
        if (!(err instanceof Pkcs12Error)) throw err;
        throw ConfigError.invalid(src.name('ssl.truststore.location'), truststoreLocation, `cannot read the PKCS12 truststore: ${err.message}`);
      }
    }
    hasTruststore = true;
  }
  try {
    createSecureContext(options);
  } catch (err) {
    // OpenSSL's reason (bad decrypt, key values mismatch, ...) names no secret
    const keyOrStore = hasKeystore ? (setting(src, 'ssl.keystore.location') !== undefined ? 'ssl.keystore.location' : 'ssl.keystore.key') : 'ssl.truststore.location';
    const what = /decrypt|mac verify|password|passphrase/i.test((err as Error).message) ? ' (is the password right?)' : '';
    throw new ConfigError(`Invalid TLS material for ${src.name(keyOrStore)}: ${(err as Error).message}${what}`, src.name(keyOrStore));
  }
  return { options, files, hasKeystore, hasTruststore };
}

/** Whether the server's host name is checked: ssl.endpoint.identification.algorithm https (default); empty: not. */
export function verifiesHostname(src: SettingSource): boolean {
  const v = src.raw('ssl.endpoint.identification.algorithm');
  return v === undefined || v.trim().toLowerCase() === 'https';
}

/** Client TLS options for tls.connect (our client, and brokers connecting to each other). */
export function clientTlsOptions(material: TlsMaterial, checkHostname: boolean): ConnectionOptions {
  const o: ConnectionOptions = { ...material.options };
  if (!checkHostname) o.checkServerIdentity = () => undefined;
  return o;
}
