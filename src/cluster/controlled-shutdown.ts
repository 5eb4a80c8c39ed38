/**
 * The broker's side of a controlled shutdown (Kafka's KafkaServer.controlledShutdown): before it
 * closes, a broker of a cluster asks the controller (ControlledShutdown, key 7) to move away the
 * leadership of every partition it leads and to take it out of ISRs, so that clients see a leader
 * change instead of an outage. The controller answers the replicated partitions it could not move
 * (no other in-sync replica); the broker then tries again after controlled.shutdown.retry.backoff.ms,
 * controlled.shutdown.max.retries times in all, and shuts down regardless at the end. When the
 * broker is the controller itself, it runs the same procedure locally.
 */
import { ErrorCode, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/apis.js';
import type { ControlledShutdownResponse } from '../protocol/generated/controlled-shutdown.js';
import type { Logger } from '../server/logger.js';
import type { ControllerChannel } from './controller-channel.js';
import type { Controller } from './controller.js';

export interface ControlledShutdownOptions {
  brokerId: number;
  /** The broker epoch (czxid of its /brokers/ids registration); -1 when unknown. */
  brokerEpoch: number;
  /** controlled.shutdown.max.retries: attempts in all. */
  maxRetries: number;
  /** controlled.shutdown.retry.backoff.ms */
  retryBackoffMs: number;
  controller: Controller;
  channel: ControllerChannel;
  logger: Logger;
}

/** Resolves true when the broker no longer leads any replicated partition, false when it gave up. */
export async function controlledShutdown(opts: ControlledShutdownOptions): Promise<boolean> {
  const { logger } = opts;
  logger.info(`starting controlled shutdown of broker ${opts.brokerId}`);
  for (let attempt = 1; attempt <= Math.max(1, opts.maxRetries); attempt++) {
    try {
      const { errorCode, errorMessage, remaining, controllerId } = await attemptOnce(opts);
      if (errorCode === ErrorCode.NONE && remaining.length === 0) {
        logger.info(`controlled shutdown succeeded (controller ${controllerId})`);
        return true;
      }
      if (errorCode !== ErrorCode.NONE) {
        logger.warn(`controlled shutdown attempt ${attempt} failed: controller ${controllerId} answered ${errorName(errorCode)}${errorMessage ? `: ${errorMessage}` : ''}`);
        if (errorCode === ErrorCode.NOT_CONTROLLER) opts.channel.reset();
      } else {
        logger.info(`remaining partitions to move: ${remaining.join(', ')}`);
      }
    } catch (err) {
      opts.channel.reset();
      logger.warn(`controlled shutdown attempt ${attempt} failed: ${(err as Error).message}`);
    }
    if (attempt < opts.maxRetries) await new Promise((r) => setTimeout(r, opts.retryBackoffMs));
  }
  logger.warn('proceeding to do an unclean shutdown as all the controlled shutdown attempts failed');
  return false;
}

async function attemptOnce(opts: ControlledShutdownOptions): Promise<{ errorCode: number; errorMessage?: string | null; remaining: string[]; controllerId: number }> {
  if (opts.controller.isActive) {
    const r = await opts.controller.controlledShutdown(opts.brokerId, opts.brokerEpoch);
    if (r.errorCode !== ErrorCode.NOT_CONTROLLER) {
      return { errorCode: r.errorCode, errorMessage: r.errorMessage, remaining: r.remaining.map((tp) => `${tp.topic}-${tp.partition}`), controllerId: opts.brokerId };
    }
  }
  const { controllerId, response } = await opts.channel.request<ControlledShutdownResponse>(ApiKey.ControlledShutdown, {
    brokerId: opts.brokerId,
    brokerEpoch: opts.brokerEpoch,
  });
  return {
    errorCode: response.errorCode,
    remaining: response.remainingPartitions.map((p) => `${p.topicName}-${p.partitionIndex}`),
    controllerId,
  };
}
