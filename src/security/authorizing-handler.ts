/**
 * Wraps an API handler with its authorization rule (api-authorization.ts) when the broker has an authorizer: the
 * rule's checks run against the request's principal and client address, refused parts are answered with Kafka's
 * errors, and each refusal is logged as Kafka's authorizer logs it ("Principal = User:bob is Denied Operation =
 * Write from host = 10.0.0.7 on resource = Topic:LITERAL:orders for request = Produce"), at most once a minute per
 * principal, operation and resource.
 */
import { ErrorCode } from '../protocol/errors.js';
import { API_CODECS } from '../protocol/generated/apis.js';
import { buildErrorResponse } from '../server/error-response.js';
import { CloseConnection, NO_RESPONSE, type ApiHandler, type RequestContext } from '../server/request.js';
import type { Logger } from '../server/logger.js';
import { OPERATION_NAMES, RESOURCE_TYPE_NAMES } from './acl.js';
import { API_AUTHORIZATION, type ApiAuthorization, type AuthorizationScope, type Verdict } from './api-authorization.js';
import type { AclAuthorizer } from './authorizer.js';
import { principalString } from './principal.js';

const AUDIT_INTERVAL_MS = 60_000;

export interface RequestAuthorizer {
  readonly authorizer: AclAuthorizer;
  /** A check made on behalf of a request (logged when refused). */
  allowed(ctx: RequestContext, operation: number, resourceType: number, name: string): boolean;
  authorizedOperations(ctx: RequestContext, resourceType: number, name: string): number;
}

export function requestAuthorizer(authorizer: AclAuthorizer, logger: Logger): RequestAuthorizer {
  const lastLogged = new Map<string, number>();
  return {
    authorizer,
    allowed(ctx, operation, resourceType, name) {
      const ok = authorizer.authorize(ctx.principal, ctx.clientAddress, operation, resourceType, name);
      if (!ok) {
        const principal = principalString(ctx.principal);
        const resource = `${RESOURCE_TYPE_NAMES[resourceType] ?? resourceType}:LITERAL:${name}`;
        const key = `${principal}\u0000${ctx.clientAddress}\u0000${operation}\u0000${resource}`;
        const now = Date.now();
        if ((lastLogged.get(key) ?? 0) + AUDIT_INTERVAL_MS <= now) {
          if (lastLogged.size > 10_000) lastLogged.clear();
          lastLogged.set(key, now);
          const api = API_CODECS.get(ctx.apiKey)?.name ?? String(ctx.apiKey);
          logger.info(`Principal = ${principal} is Denied Operation = ${OPERATION_NAMES[operation] ?? operation} from host = ${ctx.clientAddress} on resource = ${resource} for request = ${api}`);
        }
      }
      return ok;
    },
    authorizedOperations(ctx, resourceType, name) {
      return authorizer.authorizedOperations(ctx.principal, ctx.clientAddress, resourceType, name);
    },
  };
}

/** The rule of an API; an API without one is refused entirely (a test keeps the table complete). */
function ruleOf(apiKey: number): ApiAuthorization {
  return API_AUTHORIZATION.get(apiKey) ?? { checks: 'no rule: refused', authorize: () => ({ deny: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }) };
}

export function authorizingHandler(handler: ApiHandler, auth: () => RequestAuthorizer | null, topicName: (id: Buffer) => string | undefined): ApiHandler {
  const rule = ruleOf(handler.apiKey);
  return {
    apiKey: handler.apiKey,
    minVersion: handler.minVersion,
    maxVersion: handler.maxVersion,
    handle(request, ctx) {
      const a = auth();
      if (a === null) return handler.handle(request, ctx);
      const scope: AuthorizationScope = {
        apiKey: ctx.apiKey,
        apiVersion: ctx.apiVersion,
        allowed: (op, type, name) => a.allowed(ctx, op, type, name),
        allowedOnSomeResource: (op, type) => a.authorizer.authorizeByResourceType(ctx.principal, ctx.clientAddress, op, type),
        authorizedOperations: (type, name) => a.authorizedOperations(ctx, type, name),
        topicName,
      };
      const verdict: Verdict = rule.authorize(request, scope);
      if (verdict === null) return handler.handle(request, ctx);
      if ('close' in verdict) throw new CloseConnection('a refused request whose client expects no response');
      if ('respond' in verdict) return verdict.respond;
      if ('deny' in verdict) {
        const body = buildErrorResponse(ctx.apiKey, ctx.apiVersion, request, { errorCode: verdict.deny, errorMessage: null });
        if (body === null) throw new CloseConnection('a refused request of an API without an error response');
        return body;
      }
      const out = handler.handle(verdict.request, ctx);
      const merge = (res: unknown) => (res === NO_RESPONSE ? res : verdict.after(res));
      return out instanceof Promise ? out.then(merge) : merge(out);
    },
  };
}
