/**
 * SaslHandshake (key 17) and SaslAuthenticate (key 36) reaching the request handlers: on a listener without SASL,
 * or on an authenticated connection that does not re-authenticate (src/security/sasl-server.ts takes the SASL
 * exchange itself). Kafka answers both with ILLEGAL_SASL_STATE (KafkaApis.handleSaslHandshakeRequest).
 */
import type { SaslHandshakeRequest, SaslHandshakeResponseInput } from '../../protocol/generated/sasl-handshake.js';
import type { SaslAuthenticateRequest, SaslAuthenticateResponseInput } from '../../protocol/generated/sasl-authenticate.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';

export function saslHandshakeHandler(): ApiHandler<SaslHandshakeRequest, SaslHandshakeResponseInput> {
  return {
    apiKey: 17,
    minVersion: 0,
    maxVersion: 1,
    handle() {
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: [] };
    },
  };
}

export function saslAuthenticateHandler(): ApiHandler<SaslAuthenticateRequest, SaslAuthenticateResponseInput> {
  return {
    apiKey: 36,
    minVersion: 0,
    maxVersion: 2,
    handle() {
      return {
        errorCode: ErrorCode.ILLEGAL_SASL_STATE,
        errorMessage: 'SaslAuthenticate request received after successful authentication',
        authBytes: Buffer.alloc(0),
        sessionLifetimeMs: 0,
      };
    },
  };
}
