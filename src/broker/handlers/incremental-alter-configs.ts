/**
 * IncrementalAlterConfigs (key 44), v0-1 (KIP-339): per config SET (0), DELETE (1), APPEND (2) and
 * SUBTRACT (3, list configs only), applied to a topic's current overrides; the result is validated as
 * a whole and written like AlterConfigs' (validate_only: checked, not written). Broker resources:
 * kfk has no dynamic broker configs (INVALID_REQUEST, per resource).
 */
import type {
  IncrementalAlterConfigsRequest,
  IncrementalAlterConfigsRequestAlterableConfig,
  IncrementalAlterConfigsResponseAlterConfigsResourceResponseInput,
  IncrementalAlterConfigsResponseInput,
} from '../../protocol/generated/incremental-alter-configs.js';
import { NO_DEFAULT, formatValue } from '../../config/config-def.js';
import { TOPIC_CONFIG_DEF_MAP } from '../../config/topic-config.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import {
  ConfigResourceType,
  ResourceError,
  brokerEntityName,
  readBrokerEntityConfig,
  replaceBrokerConfigs,
  checkTopic,
  readTopicOverrides,
  replaceTopicOverrides,
  repeatedResources,
  resourceErrorOf,
  type ConfigServices,
} from './config-resources.js';

export const AlterConfigOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

function splitList(value: string | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Applies KIP-339 operations to a topic's overrides (Kafka's prepareIncrementalConfigs); throws ResourceError. */
export function applyIncrementalOps(
  current: Record<string, string>,
  ops: readonly Pick<IncrementalAlterConfigsRequestAlterableConfig, 'name' | 'configOperation' | 'value'>[],
): Record<string, string> {
  const names = new Set<string>();
  for (const op of ops) {
    if (names.has(op.name)) throw new ResourceError(ErrorCode.INVALID_REQUEST, 'Error due to duplicate config keys');
    names.add(op.name);
  }
  const out = { ...current };
  for (const op of ops) {
    switch (op.configOperation) {
      case AlterConfigOp.SET:
        if (op.value === null) throw new ResourceError(ErrorCode.INVALID_REQUEST, `Null value not supported for : ${op.name}`);
        out[op.name] = op.value;
        break;
      case AlterConfigOp.DELETE:
        delete out[op.name];
        break;
      case AlterConfigOp.APPEND:
      case AlterConfigOp.SUBTRACT: {
        const append = op.configOperation === AlterConfigOp.APPEND;
        const def = TOPIC_CONFIG_DEF_MAP.get(op.name);
        if (!def) throw new ResourceError(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${op.name}`);
        if (def.type !== 'list') {
          throw new ResourceError(ErrorCode.INVALID_CONFIG, `Config value ${append ? 'append' : 'subtract'} is not allowed for config key: ${op.name}`);
        }
        const dflt = def.default === NO_DEFAULT ? null : formatValue(def, def.default);
        const old = splitList(op.name in out ? out[op.name] : dflt);
        const given = splitList(op.value);
        const next = append ? [...old, ...given.filter((x) => !old.includes(x))] : old.filter((x) => !given.includes(x));
        out[op.name] = next.join(',');
        break;
      }
      default:
        throw new ResourceError(ErrorCode.INVALID_REQUEST, `Unknown alter config operation type ${op.configOperation}`);
    }
  }
  return out;
}

export function incrementalAlterConfigsHandler(
  s: ConfigServices,
): ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponseInput> {
  return {
    apiKey: 44,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      const responses: IncrementalAlterConfigsResponseAlterConfigsResourceResponseInput[] = [];
      const isRepeated = repeatedResources(req.resources);
      for (const r of req.resources) {
        const base = { resourceType: r.resourceType, resourceName: r.resourceName };
        try {
          if (isRepeated(r)) {
            throw new ResourceError(ErrorCode.INVALID_REQUEST, 'Error due to duplicate config resources');
          }
          if (r.resourceType === ConfigResourceType.TOPIC) {
            await checkTopic(s, r.resourceName);
            const current = await readTopicOverrides(s.registry, r.resourceName);
            const next = applyIncrementalOps(current, r.configs);
            await replaceTopicOverrides(s, r.resourceName, next, req.validateOnly);
          } else if (r.resourceType === ConfigResourceType.BROKER) {
            const current = await readBrokerEntityConfig(s.registry, brokerEntityName(r.resourceName));
            if (r.configs.some((c) => c.configOperation === AlterConfigOp.APPEND || c.configOperation === AlterConfigOp.SUBTRACT)) {
              throw new ResourceError(ErrorCode.INVALID_CONFIG, 'kfk\'s dynamic broker configs take SET and DELETE only (none of them is a list but log.cleanup.policy: SET it whole)');
            }
            await replaceBrokerConfigs(s, r.resourceName, applyIncrementalOps(current, r.configs), req.validateOnly);
          } else {
            throw new ResourceError(ErrorCode.INVALID_REQUEST, `IncrementalAlterConfigs is only supported for topics and brokers, but resource type is ${r.resourceType}`);
          }
          responses.push({ ...base, errorCode: ErrorCode.NONE, errorMessage: null });
        } catch (err) {
          const e = resourceErrorOf(err);
          responses.push({ ...base, errorCode: e.code, errorMessage: e.errorMessage });
        }
      }
      return { throttleTimeMs: 0, responses };
    },
  };
}
