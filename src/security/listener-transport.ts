/**
 * A listener's runtime security from its validated settings (listener-security.ts): the TLS context (reloaded when
 * its files change) with the client-certificate principal, and a SASL authenticator per connection.
 */
import { randomBytes } from 'node:crypto';
import type { ListenerTransport } from '../server/socket-server.js';
import type { Logger } from '../server/logger.js';
import type { ListenerSecurity } from './listener-security.js';
import { loadTlsMaterial } from './ssl-settings.js';
import { ReloadingTlsMaterial } from './tls-context.js';
import { rfc2253Subject } from './ssl-principal.js';
import { userPrincipal } from './principal.js';
import { PlainUsers, SaslServerAuthenticator, type ScramCredentialSource } from './sasl-server.js';
import { credentialFromString, type ScramCredential } from './scram.js';
import type { EntityConfigCache } from './entity-configs.js';

/** SCRAM credentials from the broker's copy of /config/users (each stored string parsed once). */
export class ScramCredentialCache implements ScramCredentialSource {
  private parsed = new Map<string, ScramCredential | null>();

  constructor(private readonly configs: EntityConfigCache) {
    configs.onUpdate(() => (this.parsed = new Map()));
  }

  credential(user: string, mechanism: string): ScramCredential | undefined {
    const stored = this.configs.current.users.get(user)?.[mechanism];
    if (stored === undefined) return undefined;
    let c = this.parsed.get(stored);
    if (c === undefined) {
      try {
        c = credentialFromString(stored);
      } catch {
        c = null; // malformed (written by hand): no login with it
      }
      this.parsed.set(stored, c);
    }
    return c ?? undefined;
  }
}

export interface BuiltTransport {
  readonly transport: ListenerTransport;
  close(): void;
}

export function buildListenerTransport(ls: ListenerSecurity, deps: { scram: ScramCredentialSource; logger: Logger }): BuiltTransport {
  let tlsMaterial: ReloadingTlsMaterial | null = null;
  const transport: { tls?: ListenerTransport['tls']; authenticator?: ListenerTransport['authenticator'] } = {};
  if (ls.tls !== null) {
    const tls = ls.tls;
    const material = new ReloadingTlsMaterial(`listener ${ls.name}`, () => loadTlsMaterial(tls.source, { requireKeystore: true, role: `listener ${ls.name}` }), deps.logger, tls.material);
    tlsMaterial = material;
    transport.tls = {
      options: () => material.options,
      onChange: (listener) => material.onChange(listener),
      clientAuth: tls.clientAuth,
      principalOf: (cert) => userPrincipal(tls.principalMapper.name(rfc2253Subject(cert.raw))),
    };
  }
  if (ls.sasl !== null) {
    const sasl = ls.sasl;
    const plainUsers = sasl.plainUsers ? new PlainUsers(sasl.plainUsers) : null;
    const fakeSaltKey = randomBytes(32);
    transport.authenticator = () =>
      new SaslServerAuthenticator({
        listenerName: ls.name,
        mechanisms: sasl.mechanisms,
        plainUsers,
        scramCredentials: deps.scram,
        reauthMs: sasl.reauthMs,
        maxReceiveBytes: sasl.maxReceiveBytes,
        failedAuthenticationDelayMs: sasl.failedAuthenticationDelayMs,
        fakeSaltKey,
      });
  }
  return { transport, close: () => tlsMaterial?.close() };
}
