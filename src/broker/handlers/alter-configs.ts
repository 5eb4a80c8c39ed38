/**
 * AlterConfigs (key 33), v0-2: replaces ALL overrides of a topic with the given set (configs left out
 * return to their defaults), as Kafka's legacy AlterConfigs does. Validated as a whole
 * (INVALID_CONFIG with Kafka's message, e.g. "Unknown topic config name: x"); validate_only checks
 * without writing. Written to /config/topics/<topic> with a config change notification. Broker
 * resources: kfk has no dynamic broker configs (INVALID_REQUEST, per resource).
 */
import type {
  AlterConfigsRequest,
  AlterConfigsResponseAlterConfigsResourceResponseInput,
  AlterConfigsResponseInput,
} from '../../protocol/generated/alter-configs.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import {
  ConfigResourceType,
  ResourceError,
  replaceBrokerConfigs,
  checkTopic,
  replaceTopicOverrides,
  repeatedResources,
  resourceErrorOf,
  type ConfigServices,
} from './config-resources.js';

export function alterConfigsHandler(s: ConfigServices): ApiHandler<AlterConfigsRequest, AlterConfigsResponseInput> {
  return {
    apiKey: 33,
    minVersion: 0,
    maxVersion: 2,
    async handle(req) {
      const responses: AlterConfigsResponseAlterConfigsResourceResponseInput[] = [];
      const isRepeated = repeatedResources(req.resources);
      for (const r of req.resources) {
        const base = { resourceType: r.resourceType, resourceName: r.resourceName };
        try {
          if (isRepeated(r)) {
            throw new ResourceError(ErrorCode.INVALID_REQUEST, 'Error due to duplicate config resources');
          }
          if (r.resourceType === ConfigResourceType.TOPIC) {
            await checkTopic(s, r.resourceName);
            const overrides: Record<string, string> = {};
            for (const c of r.configs) {
              if (c.name in overrides) throw new ResourceError(ErrorCode.INVALID_REQUEST, 'Error due to duplicate config keys');
              if (c.value === null) throw new ResourceError(ErrorCode.INVALID_REQUEST, `Null value not supported for topic configs: ${c.name}`);
              overrides[c.name] = c.value;
            }
            await replaceTopicOverrides(s, r.resourceName, overrides, req.validateOnly);
          } else if (r.resourceType === ConfigResourceType.BROKER) {
            const configs: Record<string, string> = {};
            for (const c of r.configs) {
              if (c.name in configs) throw new ResourceError(ErrorCode.INVALID_REQUEST, 'Error due to duplicate config keys');
              if (c.value !== null) configs[c.name] = c.value;
            }
            await replaceBrokerConfigs(s, r.resourceName, configs, req.validateOnly);
          } else {
            throw new ResourceError(ErrorCode.INVALID_REQUEST, `AlterConfigs is only supported for topics and brokers, but resource type is ${r.resourceType}`);
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
