/**
 * Topic creation on behalf of a client that did not ask for it explicitly: Metadata's auto-creation
 * and the group coordinator's __consumer_offsets. Only the controller creates topics, so a broker
 * that is not the controller forwards a CreateTopics request to it (Kafka 2.8+'s
 * AutoTopicCreationManager) and answers the client with a retriable error meanwhile
 * (LEADER_NOT_AVAILABLE, or COORDINATOR_NOT_AVAILABLE for the offsets topic), as Kafka does right
 * after auto-creating a topic; the client's next Metadata finds it.
 */
import { ErrorCode, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/apis.js';
import type { CreateTopicsResponse } from '../protocol/generated/create-topics.js';
import type { Logger } from '../server/logger.js';
import type { ControllerChannel } from './controller-channel.js';
import type { Controller, ControllerResult, CreateTopicRequest } from './controller.js';

export class AutoTopicCreator {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly controller: Controller,
    private readonly channel: ControllerChannel,
    private readonly logger: Logger,
  ) {}

  /**
   * Creates the topic: on the controller, directly (resolves with the result once the local
   * metadata has it); elsewhere, by forwarding it to the controller in the background (resolves
   * null at once; failures are logged).
   */
  async create(req: CreateTopicRequest): Promise<ControllerResult | null> {
    if (this.controller.isActive) {
      const result = await this.controller.createTopic(req);
      if (result.errorCode !== ErrorCode.NOT_CONTROLLER) return result;
    }
    if (!this.inFlight.has(req.name)) {
      const p = this.forward(req)
        .catch((err: unknown) => this.logger.warn(`could not forward the creation of topic ${req.name} to the controller: ${(err as Error).message}`))
        .finally(() => this.inFlight.delete(req.name));
      this.inFlight.set(req.name, p);
    }
    return null;
  }

  private async forward(req: CreateTopicRequest): Promise<void> {
    const { controllerId, response } = await this.channel.request<CreateTopicsResponse>(ApiKey.CreateTopics, {
      topics: [
        {
          name: req.name,
          numPartitions: req.numPartitions,
          replicationFactor: req.replicationFactor,
          assignments: [],
          configs: Object.entries(req.configs ?? {}).map(([name, value]) => ({ name, value })),
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    const t = response.topics.find((x) => x.name === req.name);
    const code = t?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
    if (code === ErrorCode.NONE) {
      this.logger.info(`forwarded the creation of topic ${req.name} to controller ${controllerId}`);
      return;
    }
    if (code === ErrorCode.TOPIC_ALREADY_EXISTS) return;
    if (code === ErrorCode.NOT_CONTROLLER) this.channel.reset();
    throw new Error(`controller ${controllerId} answered ${errorName(code)}${t?.errorMessage ? `: ${t.errorMessage}` : ''}`);
  }
}
