/**
 * DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), v0-1, as Kafka's ZkAdminManager: quotas are configs
 * of /config/users/<user>, /config/users/<user>/clients/<client-id> and /config/clients/<client-id> ("<default>" for
 * the default entity), written with a /config/changes notification; every broker's quota manager follows them.
 *
 * Keys: producer_byte_rate and consumer_byte_rate (bytes/s, whole numbers), request_percentage (percent of one
 * request-handling thread, as Kafka counts it). controller_mutation_rate and IP quotas (connection_creation_rate)
 * are refused: kfk does not enforce them and will not store a limit that does nothing.
 */
import type {
  DescribeClientQuotasRequest,
  DescribeClientQuotasRequestComponentData,
  DescribeClientQuotasResponseEntryDataInput,
  DescribeClientQuotasResponseInput,
} from '../../protocol/generated/describe-client-quotas.js';
import type { AlterClientQuotasRequest, AlterClientQuotasResponseEntryDataInput, AlterClientQuotasResponseInput } from '../../protocol/generated/alter-client-quotas.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { Registry } from '../../registry/registry.js';
import {
  DEFAULT_ENTITY,
  clientEntityPath,
  isValidEntityName,
  readAllEntityConfigs,
  readEntityConfig,
  userClientEntityPath,
  userEntityPath,
  writeEntityConfig,
} from '../../security/entity-configs.js';

export const USER = 'user';
export const CLIENT_ID = 'client-id';
export const IP = 'ip';

/** The quota keys kfk enforces, with Kafka's types. */
export const QUOTA_KEYS: ReadonlyMap<string, 'long' | 'double'> = new Map([
  ['producer_byte_rate', 'long'],
  ['consumer_byte_rate', 'long'],
  ['request_percentage', 'double'],
]);

const MATCH_EXACT = 0;
const MATCH_DEFAULT = 1;

/** A filter component's match: a name (exact), null (the default entity), or undefined (any entity of the type). */
function matchOf(c: DescribeClientQuotasRequestComponentData): string | null | undefined {
  if (c.matchType === MATCH_EXACT) return c.match ?? '';
  if (c.matchType === MATCH_DEFAULT) return null;
  return undefined;
}

function quotaValues(config: Readonly<Record<string, string>>): { key: string; value: number }[] {
  return Object.entries(config)
    .filter(([k]) => QUOTA_KEYS.has(k))
    .map(([key, v]) => ({ key, value: Number(v) }));
}

const fromStored = (n: string): string | null => (n === DEFAULT_ENTITY ? null : n);

export function describeClientQuotasHandler(registry: Registry): ApiHandler<DescribeClientQuotasRequest, DescribeClientQuotasResponseInput> {
  return {
    apiKey: 48,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      let user: DescribeClientQuotasRequestComponentData | undefined;
      let client: DescribeClientQuotasRequestComponentData | undefined;
      const refuse = (errorCode: number, errorMessage: string): DescribeClientQuotasResponseInput => ({ throttleTimeMs: 0, errorCode, errorMessage, entries: null });
      for (const c of req.components) {
        if (c.entityType === USER) {
          if (user) return refuse(ErrorCode.INVALID_REQUEST, 'Duplicate user filter component entity type');
          user = c;
        } else if (c.entityType === CLIENT_ID) {
          if (client) return refuse(ErrorCode.INVALID_REQUEST, 'Duplicate client filter component entity type');
          client = c;
        } else if (c.entityType === IP) {
          // kfk keeps no IP quotas: there is nothing to describe
          return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, entries: [] };
        } else if (c.entityType === '') {
          return refuse(ErrorCode.INVALID_REQUEST, 'Unexpected empty filter component entity type');
        } else {
          return refuse(ErrorCode.UNSUPPORTED_VERSION, `Custom entity type '${c.entityType}' not supported`);
        }
      }
      const matches = (component: DescribeClientQuotasRequestComponentData | undefined, name: string | null | undefined): boolean => {
        if (component === undefined) return name === undefined || !req.strict;
        const m = matchOf(component);
        if (m === undefined) return name !== undefined;
        return name === m;
      };
      const all = await readAllEntityConfigs(registry);
      const entries: DescribeClientQuotasResponseEntryDataInput[] = [];
      const consider = (u: string | null | undefined, c: string | null | undefined, config: Readonly<Record<string, string>>): void => {
        const values = quotaValues(config);
        if (values.length === 0 || !matches(user, u) || !matches(client, c)) return;
        const entity = [
          ...(u !== undefined ? [{ entityType: USER, entityName: u }] : []),
          ...(c !== undefined ? [{ entityType: CLIENT_ID, entityName: c }] : []),
        ];
        entries.push({ entity, values });
      };
      for (const [u, config] of all.users) consider(fromStored(u), undefined, config);
      for (const [c, config] of all.clients) consider(undefined, fromStored(c), config);
      for (const [u, clients] of all.userClients) for (const [c, config] of clients) consider(fromStored(u), fromStored(c), config);
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, entries };
    },
  };
}

/** The registry entity path of a quota entity, or throws INVALID_REQUEST (Kafka's messages). */
function entityPathOf(entity: readonly { entityType: string; entityName: string | null }[]): string {
  let user: string | null | undefined;
  let client: string | null | undefined;
  for (const e of entity) {
    if (e.entityType === USER && user === undefined) user = e.entityName;
    else if (e.entityType === CLIENT_ID && client === undefined) client = e.entityName;
    else if (e.entityType === IP) throw new KafkaError(ErrorCode.INVALID_REQUEST, 'kfk does not enforce IP quotas (connection_creation_rate)');
    else throw new KafkaError(ErrorCode.INVALID_REQUEST, 'Invalid client quota entity');
  }
  const name = (n: string | null): string => {
    if (n !== null && !isValidEntityName(n)) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Invalid entity name ${JSON.stringify(n)}`);
    return n ?? DEFAULT_ENTITY;
  };
  if (user !== undefined && client !== undefined) return userClientEntityPath(name(user), name(client));
  if (user !== undefined) return userEntityPath(name(user));
  if (client !== undefined) return clientEntityPath(name(client));
  throw new KafkaError(ErrorCode.INVALID_REQUEST, 'Invalid client quota entity');
}

export function alterClientQuotasHandler(registry: Registry): ApiHandler<AlterClientQuotasRequest, AlterClientQuotasResponseInput> {
  return {
    apiKey: 49,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      const entries: AlterClientQuotasResponseEntryDataInput[] = [];
      for (const entry of req.entries) {
        const entity = entry.entity.map((e) => ({ entityType: e.entityType, entityName: e.entityName }));
        try {
          const path = entityPathOf(entry.entity);
          const config = { ...(await readEntityConfig(registry, path)) };
          for (const op of entry.ops) {
            if (op.remove) {
              delete config[op.key];
              continue;
            }
            const type = QUOTA_KEYS.get(op.key);
            if (type === undefined) {
              const why = op.key === 'controller_mutation_rate' ? ' (kfk does not enforce controller mutation quotas)' : '';
              throw new KafkaError(ErrorCode.INVALID_REQUEST, `Invalid configuration key ${op.key}${why}`);
            }
            if (!Number.isFinite(op.value) || op.value <= 0) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Configuration ${op.key} must be a positive number`);
            if (type === 'long') {
              const whole = Math.floor(op.value + 1e-6);
              if (Math.abs(whole - op.value) > 1e-6) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Configuration ${op.key} must be a LONG value`);
              config[op.key] = String(whole);
            } else config[op.key] = String(op.value);
          }
          if (!req.validateOnly) await writeEntityConfig(registry, path, config);
          entries.push({ errorCode: ErrorCode.NONE, errorMessage: null, entity });
        } catch (err) {
          if (!(err instanceof KafkaError)) throw err;
          entries.push({ errorCode: err.code, errorMessage: err.message, entity });
        }
      }
      return { throttleTimeMs: 0, entries };
    },
  };
}
