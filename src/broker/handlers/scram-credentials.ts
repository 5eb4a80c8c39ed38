/**
 * DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51), v0, as Kafka's ZkAdminManager:
 * SCRAM credentials live in /config/users/<user> under their mechanism name, in Kafka's stored form
 * (salt=..,stored_key=..,server_key=..,iterations=..); the client sends a salt and the salted password, never the
 * password. A change is written with a /config/changes notification, so every broker's credential cache follows.
 *
 * Errors as Kafka's: an empty user name UNACCEPTABLE_CREDENTIAL ("Username must not be empty"), an unknown mechanism
 * UNSUPPORTED_SASL_MECHANISM, iterations outside 4096..16384 UNACCEPTABLE_CREDENTIAL, a user altered twice
 * DUPLICATE_RESOURCE, deleting or describing a credential that does not exist RESOURCE_NOT_FOUND.
 */
import type {
  DescribeUserScramCredentialsRequest,
  DescribeUserScramCredentialsResponseDescribeUserScramCredentialsResultInput,
  DescribeUserScramCredentialsResponseInput,
} from '../../protocol/generated/describe-user-scram-credentials.js';
import type {
  AlterUserScramCredentialsRequest,
  AlterUserScramCredentialsResponseAlterUserScramCredentialsResultInput,
  AlterUserScramCredentialsResponseInput,
} from '../../protocol/generated/alter-user-scram-credentials.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { Registry } from '../../registry/registry.js';
import type { Logger } from '../../server/logger.js';
import { SCRAM_MECHANISMS, credentialFromSaltedPassword, credentialFromString, credentialToString, scramMechanismByType } from '../../security/scram.js';
import { isValidEntityName, readAllEntityConfigs, readEntityConfig, userEntityPath, writeEntityConfig } from '../../security/entity-configs.js';

const EMPTY_USER = 'Username must not be empty';

function credentialInfos(config: Readonly<Record<string, string>>): { mechanism: number; iterations: number }[] | null {
  const infos: { mechanism: number; iterations: number }[] = [];
  for (const m of SCRAM_MECHANISMS.values()) {
    const v = config[m.name];
    if (v !== undefined) infos.push({ mechanism: m.type, iterations: credentialFromString(v).iterations });
  }
  return infos.length > 0 ? infos : null;
}

export function describeUserScramCredentialsHandler(registry: Registry): ApiHandler<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponseInput> {
  return {
    apiKey: 50,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const results: DescribeUserScramCredentialsResponseDescribeUserScramCredentialsResultInput[] = [];
      const describe = (user: string, config: Readonly<Record<string, string>>, explicit: boolean): void => {
        let infos;
        try {
          infos = credentialInfos(config);
        } catch {
          results.push({ user, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'Error processing describe user SCRAM credential configs request', credentialInfos: [] });
          return;
        }
        if (infos !== null) results.push({ user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos: infos });
        else if (explicit) {
          results.push({ user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: `Attempt to describe a user credential that does not exist: ${user}`, credentialInfos: [] });
        }
      };
      if (req.users === null || req.users.length === 0) {
        const all = await readAllEntityConfigs(registry);
        for (const user of [...all.users.keys()].filter((u) => u !== '<default>').sort()) describe(user, all.users.get(user)!, false);
        return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, results };
      }
      const names = req.users.map((u) => u.name);
      const seen = new Set<string>();
      for (const user of names) {
        if (seen.has(user)) continue;
        seen.add(user);
        if (user === '') results.push({ user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: EMPTY_USER, credentialInfos: [] });
        else if (!isValidEntityName(user)) {
          results.push({ user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: `Attempt to describe a user credential that does not exist: ${user}`, credentialInfos: [] });
        }
        else if (names.filter((n) => n === user).length > 1) {
          results.push({ user, errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: `Cannot describe SCRAM credentials for the same user twice in a single request: ${user}`, credentialInfos: [] });
        } else describe(user, await readEntityConfig(registry, userEntityPath(user)), true);
      }
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, results };
    },
  };
}

export function alterUserScramCredentialsHandler(registry: Registry, logger: Logger): ApiHandler<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponseInput> {
  return {
    apiKey: 51,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const results: AlterUserScramCredentialsResponseAlterUserScramCredentialsResultInput[] = [];
      const failed = new Set<string>();
      const fail = (user: string, errorCode: number, errorMessage: string): void => {
        if (failed.has(user)) return;
        failed.add(user);
        results.push({ user, errorCode, errorMessage });
      };
      // requests that are wrong in themselves
      for (const u of req.upsertions) {
        const m = scramMechanismByType(u.mechanism);
        if (u.name === '') fail(u.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, EMPTY_USER);
        else if (!isValidEntityName(u.name)) fail(u.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Invalid user name');
        else if (m === undefined) fail(u.name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, 'Unknown SCRAM mechanism');
        else if (u.iterations < m.minIterations) fail(u.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Too few iterations');
        else if (u.iterations > m.maxIterations) fail(u.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Too many iterations');
      }
      for (const d of req.deletions) {
        if (d.name === '') fail(d.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, EMPTY_USER);
        else if (!isValidEntityName(d.name)) fail(d.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Invalid user name');
        else if (scramMechanismByType(d.mechanism) === undefined) fail(d.name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, 'Unknown SCRAM mechanism');
      }
      const pairs = [...req.upsertions.map((u) => [u.name, u.mechanism] as const), ...req.deletions.map((d) => [d.name, d.mechanism] as const)].filter(([n]) => !failed.has(n));
      const counts = new Map<string, number>();
      for (const [n, m] of pairs) counts.set(`${n}\u0000${m}`, (counts.get(`${n}\u0000${m}`) ?? 0) + 1);
      for (const [n, m] of pairs) if (counts.get(`${n}\u0000${m}`)! > 1) fail(n, ErrorCode.DUPLICATE_RESOURCE, 'A user credential cannot be altered twice in the same request');

      const users = [...new Set(pairs.map(([n]) => n))].filter((n) => !failed.has(n));
      for (const user of users) {
        try {
          const config = { ...(await readEntityConfig(registry, userEntityPath(user))) };
          let missing = false;
          for (const d of req.deletions.filter((x) => x.name === user)) {
            const name = scramMechanismByType(d.mechanism)!.name;
            if (config[name] === undefined) missing = true;
            delete config[name];
          }
          if (missing) {
            fail(user, ErrorCode.RESOURCE_NOT_FOUND, 'Attempt to delete a user credential that does not exist');
            continue;
          }
          for (const u of req.upsertions.filter((x) => x.name === user)) {
            const m = scramMechanismByType(u.mechanism)!;
            config[m.name] = credentialToString(credentialFromSaltedPassword(m, u.saltedPassword, u.salt, u.iterations));
          }
          await writeEntityConfig(registry, userEntityPath(user), config);
          results.push({ user, errorCode: ErrorCode.NONE, errorMessage: null });
        } catch (err) {
          // the registry write failed: this user only, as Kafka answers per user; the cause is logged, not sent
          logger.error(`AlterUserScramCredentials: writing the credentials of user ${JSON.stringify(user)} failed: ${(err as Error).stack ?? err}`);
          failed.add(user);
          results.push({ user, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: null });
        }
      }
      return { throttleTimeMs: 0, results };
    },
  };
}
