import { UnrecoverableError, Worker } from 'bullmq';
import {
  type RedisClient,
  type Config,
  type Deliverer,
  type Logger,
  type WebhookJob,
  type WebhookSettings,
  type WorkerMetrics,
  describeOutcome,
  errorFields,
  eventOf,
  retryDelayMs,
  webhookPartitionQueue,
  workerId,
} from '@flashline/core';

/** What a delivered job returns: the receiver's status (kept with the job, a few bytes). */
export interface DeliveryResult {
  status: number;
}

/**
 * One BullMQ worker delivering the events of one partition of the webhooks queue: the event's body is
 * built from the job (the outbox entry), signed at each attempt and POSTed. A 2xx completes the job;
 * anything else throws, and BullMQ retries it after `retryDelayMs` (doubling from WEBHOOK_BACKOFF_BASE_MS
 * up to an hour) for the attempts that span 24 hours; then the job stays `failed` for an operator.
 * A job that is not an order event fails at once (UnrecoverableError): no retry can mend it.
 */
export function createWebhookWorker(
  config: Config,
  settings: WebhookSettings,
  redis: RedisClient,
  deliverer: Deliverer,
  log: Logger,
  metrics: WorkerMetrics | undefined,
  partition: number,
): Worker<WebhookJob, DeliveryResult> {
  const queue = webhookPartitionQueue(config, partition);
  const worker = new Worker<WebhookJob, DeliveryResult>(
    queue.name,
    async (job) => {
      const event = eventOf(job.data);
      if (!event) {
        metrics?.observeDelivery('malformed');
        throw new UnrecoverableError('not an order event: its outbox entry lacks fields (nothing was sent)');
      }
      const outcome = await deliverer.deliver(JSON.stringify(event));
      metrics?.observeDelivery(outcome.kind);
      if (outcome.kind === 'delivered') return { status: outcome.status };
      throw new Error(describeOutcome(outcome, settings.timeoutMs));
    },
    {
      connection: redis,
      prefix: queue.prefix,
      name: workerId(),
      // WEBHOOK_CONCURRENCY is the process's, shared by its partitions (as the deliverer's sockets are).
      concurrency: Math.max(1, Math.ceil(settings.concurrency / config.workerPartitions.length)),
      autorun: false,
      lockDuration: config.jobLockMs,
      stalledInterval: config.jobLockMs,
      maxStalledCount: config.maxStalled,
      settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade, settings.backoffBaseMs) },
    },
  );
  worker.on('failed', (job, error) => {
    if (!job) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || error instanceof UnrecoverableError;
    log(final ? 'error' : 'debug', final ? 'webhook delivery failed for good' : 'webhook attempt failed, will retry', {
      jobId: job.id,
      attempt: job.attemptsMade,
      ...errorFields(error),
    });
  });
  worker.on('error', (error) => log('warn', 'webhook worker error', errorFields(error)));
  return worker;
}
