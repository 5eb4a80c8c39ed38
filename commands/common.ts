/**
 * Helpers shared by the command modules (commands/*.ts): the user-facing error type, flag parsing, client
 * properties, and writing to stdout with back-pressure. Kept apart from the entry point (cli.ts), which loads
 * each command module lazily, so no command module imports the entry point. Imports nothing heavy: every
 * command loads it.
 */

import type { ClientSecurity } from '../src/security/client-security.js';

/** A user-facing failure: printed as `Error: <message>` with exit code 1, never with a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export type Opts = Record<string, unknown>;

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses an integer flag value; `min` bounds it. Throws CliError naming the flag. */
export function parseIntFlag(value: unknown, flag: string, min = Number.MIN_SAFE_INTEGER): number {
  const s = String(value).trim();
  if (!/^-?\d+$/.test(s)) throw new CliError(`invalid value '${String(value)}' for ${flag}: expected an integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new CliError(`invalid value '${String(value)}' for ${flag}: out of range`);
  if (n < min) throw new CliError(`invalid value '${String(value)}' for ${flag}: must be at least ${min}`);
  return n;
}

/** Parses `k=v` items (the value may contain '='). Throws CliError naming the flag on a missing '='. */
export function parseKeyValues(items: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const idx = item.indexOf('=');
    if (idx <= 0) throw new CliError(`invalid ${flag} '${item}': expected key=value`);
    out[item.slice(0, idx).trim()] = item.slice(idx + 1);
  }
  return out;
}

/** Reads a Java .properties file (client settings: --producer.config, --consumer.config, --command-config). */
export async function readPropertiesFlag(file: unknown, flag: string): Promise<Record<string, string>> {
  if (file === undefined || file === null || file === false) return {};
  const { readPropertiesFile } = await import('../src/config/properties.js');
  try {
    return await readPropertiesFile(String(file));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new CliError(`${flag}: file '${String(file)}' does not exist`);
    throw new CliError(`${flag} '${String(file)}': ${e.message}`);
  }
}

/** Client properties about TLS and SASL (known to every tool, whatever else it takes). */
export function isSecurityProperty(key: string): boolean {
  return key === 'security.protocol' || key.startsWith('ssl.') || key.startsWith('sasl.');
}

/**
 * The TLS and SASL settings of client properties (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.*),
 * for every connection a tool opens; undefined for PLAINTEXT. What kfk cannot do is refused (CliError naming the
 * setting), never sent in plaintext. The security module is loaded only when a protocol other than PLAINTEXT is set.
 */
export async function clientSecurityOf(props: Record<string, string>): Promise<ClientSecurity | undefined> {
  const proto = props['security.protocol']?.trim();
  if (proto === undefined || proto === '' || proto.toUpperCase() === 'PLAINTEXT') return undefined;
  const { clientSecurityFromProperties } = await import('../src/security/client-security.js');
  const { ConfigError } = await import('../src/config/config-def.js');
  try {
    return clientSecurityFromProperties(props);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/** Resolves the bootstrap list: flag, then bootstrap.servers from properties, then localhost:9092. */
export function bootstrapFrom(flag: unknown, props: Record<string, string> = {}): string {
  if (typeof flag === 'string' && flag.trim() !== '') return flag;
  return props['bootstrap.servers'] ?? 'localhost:9092';
}

/** Writes to stdout honouring back-pressure (resolves when the data is accepted). */
export function writeOut(data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(data)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

/**
 * An admin client from a tool's flags: --bootstrap-server (or bootstrap.servers), TLS and SASL from the properties
 * of --command-config (and, winning over it, the file of `extraConfigFlag`, e.g. --admin.config).
 */
export async function adminFromFlags(opts: Opts, clientId: string, extraConfigFlag?: string): Promise<import('../src/client/admin.js').Admin> {
  const props = {
    ...(await readPropertiesFlag(opts.commandConfig, '--command-config')),
    ...(extraConfigFlag !== undefined ? await readPropertiesFlag(opts[extraConfigFlag.replace(/^--/, '')], extraConfigFlag) : {}),
  };
  const security = await clientSecurityOf(props);
  const { Admin } = await import('../src/client/admin.js');
  return new Admin({ bootstrap: bootstrapFrom(opts.bootstrapServer ?? opts.brokerList, props), clientId: props['client.id'] ?? clientId, ...(security ? { security } : {}) });
}

/** A warning line on stderr (`WARN: ...`), its prefix in yellow on a terminal unless NO_COLOR / --no-color. */
export function warn(message: string): void {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const prefix = process.stderr.isTTY === true && !noColor ? '\u001b[33mWARN:\u001b[39m' : 'WARN:';
  process.stderr.write(`${prefix} ${message}\n`);
}

/**
 * SIGINT / SIGTERM end a tool's loop instead of the process (Kafka's verifiable tools finish their last record and
 * print their summary): `stopped` turns true on either signal; `dispose` removes the handlers.
 */
export function stopOnSignals(): { readonly stopped: boolean; dispose(): void } {
  let stopped = false;
  const onSignal = (): void => {
    stopped = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get stopped() {
      return stopped;
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
