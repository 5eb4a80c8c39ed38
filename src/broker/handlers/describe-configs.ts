/**
 * DescribeConfigs (key 32), v0-4. TOPIC resources: every topic config (not only the overrides: clients
 * read-modify-write from this, librdkafka 0092), each with its value, source (DYNAMIC_TOPIC_CONFIG,
 * STATIC_BROKER_CONFIG, DEFAULT_CONFIG), synonyms when asked (v1+), type (v3+) and documentation when
 * asked (v3+). BROKER resources: the broker's static configs (name = its id). `configuration_keys`
 * narrows the answer (null or empty: all). Errors are per resource, as Kafka's ConfigHelper answers.
 */
import type {
  DescribeConfigsRequest,
  DescribeConfigsResponseDescribeConfigsResultInput,
  DescribeConfigsResponseInput,
} from '../../protocol/generated/describe-configs.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import {
  ConfigResourceType,
  describeBrokerConfigs,
  describeTopicConfigs,
  resourceErrorOf,
  type ConfigServices,
  type DescribedConfig,
  readDynamicBrokerConfigs,
} from './config-resources.js';

export function describeConfigsHandler(s: ConfigServices): ApiHandler<DescribeConfigsRequest, DescribeConfigsResponseInput> {
  return {
    apiKey: 32,
    minVersion: 0,
    maxVersion: 4,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const includeSynonyms = v >= 1 && req.includeSynonyms;
      const includeDocumentation = v >= 3 && req.includeDocumentation;
      const results: DescribeConfigsResponseDescribeConfigsResultInput[] = [];
      for (const r of req.resources) {
        const base = { resourceType: r.resourceType, resourceName: r.resourceName };
        try {
          let configs: DescribedConfig[];
          if (r.resourceType === ConfigResourceType.TOPIC) configs = await describeTopicConfigs(s, r.resourceName);
          else if (r.resourceType === ConfigResourceType.BROKER) configs = describeBrokerConfigs(s, r.resourceName, await readDynamicBrokerConfigs(s.registry, s.brokerId));
          else {
            results.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${r.resourceType}`, configs: [] });
            continue;
          }
          const keys = r.configurationKeys;
          if (keys !== null && keys.length > 0) configs = configs.filter((c) => keys.includes(c.name));
          results.push({
            ...base,
            errorCode: ErrorCode.NONE,
            errorMessage: null,
            configs: configs.map((c) => ({
              name: c.name,
              value: c.isSensitive ? null : c.value,
              readOnly: c.readOnly,
              isDefault: c.isDefault,
              configSource: c.configSource,
              isSensitive: c.isSensitive,
              synonyms: includeSynonyms ? c.synonyms : [],
              configType: c.configType,
              documentation: includeDocumentation ? c.documentation : null,
            })),
          });
        } catch (err) {
          const e = resourceErrorOf(err);
          results.push({ ...base, errorCode: e.code, errorMessage: e.errorMessage, configs: [] });
        }
      }
      return { throttleTimeMs: 0, results };
    },
  };
}
