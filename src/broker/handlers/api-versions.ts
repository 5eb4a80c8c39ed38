/**
 * ApiVersions (key 18). The advertised ranges are derived from the registered handlers, so the
 * broker never advertises a version it cannot serve. Responses always use response header v0
 * (KIP-511); an unsupported request version is answered by the connection layer with a v0 body
 * carrying UNSUPPORTED_VERSION and these same ranges.
 */
import type { ApiVersionsRequest, ApiVersionsResponseInput } from '../../protocol/generated/api-versions.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';

export function advertisedVersions(handlers: Iterable<ApiHandler>): { apiKey: number; minVersion: number; maxVersion: number }[] {
  return [...handlers]
    .map((h) => ({ apiKey: h.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }))
    .sort((a, b) => a.apiKey - b.apiKey);
}

export function apiVersionsHandler(getHandlers: () => Iterable<ApiHandler>): ApiHandler<ApiVersionsRequest, ApiVersionsResponseInput> {
  return {
    apiKey: 18,
    minVersion: 0,
    maxVersion: 3,
    handle() {
      return { errorCode: ErrorCode.NONE, apiKeys: advertisedVersions(getHandlers()), throttleTimeMs: 0 };
    },
  };
}

/** The v0-layout body sent for an ApiVersions request of a version we do not serve. */
export function unsupportedApiVersionsBody(getHandlers: () => Iterable<ApiHandler>): ApiVersionsResponseInput {
  return { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: advertisedVersions(getHandlers()) };
}
