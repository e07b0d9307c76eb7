import { setTimeout as sleep } from 'node:timers/promises';
import {
  type RedisClient,
  type Config,
  type Logger,
  type WebhookSettings,
  type WorkerMetrics,
  createDeliverer,
  createKeys,
  createWebhookQueues,
  errorFields,
  startRelay,
} from '@flashline/core';
import { createWebhookWorker } from './webhookWorker.ts';

/**
 * A worker process's part of webhooks: the relay of its partitions (outbox → webhooks queue, one
 * relay per partition across every worker process, by lease) and one delivery worker per partition.
 */
export function startWebhooks(
  config: Config,
  settings: WebhookSettings,
  redis: RedisClient,
  log: Logger,
  metrics: WorkerMetrics,
) {
  const keys = createKeys(config.keyPrefix);
  const queues = createWebhookQueues(config, settings, redis);
  let relayErrors = 0;
  const relay = startRelay({
    redis,
    keys,
    queues,
    batch: settings.relayBatch,
    partitions: config.workerPartitions,
    leaseMs: config.jobLockMs,
    idleMs: settings.relayIdleMs,
    onRelayed: (count) => metrics.observeRelayed(count),
    onError: (error, partition) => {
      if (relayErrors++ % 60 === 0)
        log('warn', 'webhook relay failed (retrying)', { partition, ...errorFields(error) });
    },
  });
  const deliverer = createDeliverer(settings);
  const workers = config.workerPartitions.map((partition) =>
    createWebhookWorker(config, settings, redis, deliverer, log, metrics, partition),
  );
  for (const worker of workers) void worker.run().catch(() => {});
  return {
    /** Each partition's webhooks queue: readiness and the reconciler look for partitions nobody serves. */
    queues,
    ready: Promise.all(workers.map((worker) => worker.waitUntilReady())),
    stopRelay: () => relay.stop(),
    /** Lets deliveries in flight end within the deadline; past it they stall and another worker redoes them. */
    async close(deadlineMs: number) {
      const finished = Promise.all(workers.map((worker) => worker.close())).then(() => true);
      if (!(await Promise.race([finished, sleep(deadlineMs).then(() => false)])))
        await Promise.all(workers.map((worker) => worker.close(true)));
      deliverer.close();
      await Promise.all(queues.map((queue) => queue.close()));
    },
  };
}
