/**
 * Certificates for TLS tests, made with Debian's openssl in a temp dir: a CA, a broker certificate for
 * localhost / 127.0.0.1, and client certificates whose subjects become principals (mutual TLS). Every file a
 * Kafka user would configure is there: PEM keystores (key + chain in one file; also with an encrypted key),
 * PKCS12 keystores and a PKCS12 truststore, the CA as PEM.
 *
 * Made once per test file (the keys take a moment) and shared by its cases.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.js';
import { makeTempDir } from './tmp.js';

export const STORE_PASSWORD = 'store-secret';
export const KEY_PASSWORD = 'key-secret';

export interface Identity {
  /** The subject, as given to openssl (/C=../O=../CN=..). */
  readonly subject: string;
  readonly keyPem: string;
  readonly certPem: string;
  /** Key and chain (certificate, CA) in one PEM file: a Kafka PEM keystore. */
  readonly pemKeystore: string;
  /** The same with the key encrypted with KEY_PASSWORD. */
  readonly encryptedPemKeystore: string;
  /** PKCS12 keystore, password STORE_PASSWORD. */
  readonly p12Keystore: string;
  /** The private key alone (PEM) and the certificate alone (PEM), as files. */
  readonly keyFile: string;
  readonly certFile: string;
}

export interface TestCertificates {
  readonly dir: string;
  /** The CA certificate (PEM file): the truststore of everyone. */
  readonly caPem: string;
  /** The CA in a PKCS12 truststore made by openssl, password STORE_PASSWORD. */
  readonly caP12: string;
  readonly broker: Identity;
  /** A client certificate per name, subject /C=US/O=kfk/OU=<ou>/CN=<name>. */
  readonly clients: Readonly<Record<string, Identity>>;
  /** A client certificate signed by a CA nobody trusts. */
  readonly stranger: Identity;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run('openssl', args, { cwd, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

async function makeIdentity(dir: string, name: string, subject: string, ca: { cert: string; key: string }, san: string | null): Promise<Identity> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '30', '-extfile', ext], dir);
  const keyPem = readFileSync(key, 'utf8');
  const certPem = readFileSync(cert, 'utf8');
  const caPem = readFileSync(ca.cert, 'utf8');
  const pemKeystore = join(dir, `${name}-keystore.pem`);
  writeFileSync(pemKeystore, keyPem + certPem + caPem);
  const encKey = join(dir, `${name}-enc.key`);
  await openssl(['pkcs8', '-topk8', '-in', key, '-out', encKey, '-passout', `pass:${KEY_PASSWORD}`, '-v2', 'aes-256-cbc'], dir);
  const encryptedPemKeystore = join(dir, `${name}-keystore-enc.pem`);
  writeFileSync(encryptedPemKeystore, readFileSync(encKey, 'utf8') + certPem + caPem);
  const p12Keystore = join(dir, `${name}-keystore.p12`);
  await openssl(['pkcs12', '-export', '-in', cert, '-inkey', key, '-certfile', ca.cert, '-name', name, '-out', p12Keystore, '-passout', `pass:${STORE_PASSWORD}`], dir);
  return { subject, keyPem, certPem, pemKeystore, encryptedPemKeystore, p12Keystore, keyFile: key, certFile: cert };
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`], dir);
  return { cert, key };
}

/** A CA, the broker's certificate, and client certificates for `clients` (name → OU). */
export async function makeTestCertificates(clients: Readonly<Record<string, string>> = {}): Promise<TestCertificates> {
  const dir = makeTempDir('kfk-certs-');
  const ca = await makeCa(dir, 'kfk-test-ca');
  const caP12 = join(dir, 'truststore.p12');
  await openssl(['pkcs12', '-export', '-nokeys', '-in', ca.cert, '-out', caP12, '-passout', `pass:${STORE_PASSWORD}`], dir);
  const broker = await makeIdentity(dir, 'broker', '/C=US/O=kfk/CN=localhost', ca, 'DNS:localhost,IP:127.0.0.1');
  const out: Record<string, Identity> = {};
  for (const [name, ou] of Object.entries(clients)) out[name] = await makeIdentity(dir, name, `/C=US/O=kfk/OU=${ou}/CN=${name}`, ca, null);
  const otherCa = await makeCa(dir, 'untrusted-ca');
  const stranger = await makeIdentity(dir, 'stranger', '/C=US/O=evil/CN=stranger', otherCa, null);
  return { dir, caPem: ca.cert, caP12, broker, clients: out, stranger };
}
