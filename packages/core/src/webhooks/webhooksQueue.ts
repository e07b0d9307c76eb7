import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../config/config.ts';
import type { WebhookSettings } from '../config/webhooks.ts';
import type { RedisClient } from '../redis/connect.ts';
import { webhookPartitionQueue } from '../queue/ordersQueue.ts';
import { WEBHOOK_BACKOFF, attemptsToSpan } from './backoff.ts';
import type { WebhookJob } from './event.ts';

/**
 * How long finished deliveries stay. Completed: an hour (at most 10,000), the window in which a re-add of
 * the same event id (a relay that crashed between the add and the trim) finds the job and adds nothing.
 * Failed (24 hours of retries spent): a week, for an operator to see and retry on the board.
 */
export const COMPLETED_AGE_S = 3600;
export const FAILED_AGE_S = 7 * 24 * 3600;

export function webhookJobOptions(settings: Pick<WebhookSettings, 'backoffBaseMs'>): JobsOptions {
  return {
    attempts: attemptsToSpan(settings.backoffBaseMs),
    backoff: { type: WEBHOOK_BACKOFF },
    removeOnComplete: { age: COMPLETED_AGE_S, count: 10_000 },
    removeOnFail: { age: FAILED_AGE_S },
  };
}

/** Every partition of the webhooks queue (index = partition), as the relay adds to and Bull Board shows them. */
export function createWebhookQueues(
  config: Pick<Config, 'keyPrefix' | 'queuePrefix' | 'queuePartitions'>,
  settings: Pick<WebhookSettings, 'backoffBaseMs'>,
  connection: RedisClient,
): Queue<WebhookJob>[] {
  return Array.from({ length: config.queuePartitions }, (_, partition) => {
    const { name, prefix } = webhookPartitionQueue(config, partition);
    return new Queue<WebhookJob>(name, {
      connection,
      skipWaitingForReady: true,
      prefix,
      defaultJobOptions: webhookJobOptions(settings),
    });
  });
}
