import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue, Worker } from 'bullmq';
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

const DROP_LOG_INTERVAL_MS = 60_000;
/** Every attempt failed for this long, then one succeeded: the receiver was down and is back. */
const DOWN_FOR_MS = 30_000;

/**
 * A receiver that comes back after an outage finds its deliveries waiting out retry delays that have
 * doubled up to an hour, and the backlog behind them waiting for room. The first delivery that
 * succeeds after every attempt failed for DOWN_FOR_MS promotes the partition's delayed jobs: they are
 * sent now, and the backlog drains. A flaky receiver (some attempts fail, some not) keeps its backoff.
 */
function promoteOnRecovery(worker: Worker, queue: Queue, log: Logger) {
  let failingSince: number | undefined;
  worker.on('failed', () => (failingSince ??= Date.now()));
  worker.on('completed', () => {
    const since = failingSince;
    failingSince = undefined;
    if (since === undefined || Date.now() - since < DOWN_FOR_MS) return;
    log('info', 'webhook receiver answers again: sending the deliveries waiting for a retry now', {
      queue: queue.name,
      downForMs: Date.now() - since,
    });
    queue.promoteJobs().catch((error: unknown) => log('warn', 'could not promote webhook retries', errorFields(error)));
  });
}

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
  /** When each partition last logged its drops: at most once a minute while it drops. */
  const droppedLoggedAt = new Map<number, number>();
  let droppedSinceLog = 0;
  const relay = startRelay({
    redis,
    keys,
    queues,
    batch: settings.relayBatch,
    backlogMax: settings.backlogMax,
    inFlightMax: settings.inFlightMax,
    partitions: config.workerPartitions,
    leaseMs: config.jobLockMs,
    idleMs: settings.relayIdleMs,
    onRelayed: (count) => metrics.observeRelayed(count),
    onDropped: (count, total, partition) => {
      metrics.observeDropped(count);
      droppedSinceLog += count;
      const now = Date.now();
      if (now - (droppedLoggedAt.get(partition) ?? 0) < DROP_LOG_INTERVAL_MS) return;
      droppedLoggedAt.set(partition, now);
      // The shop's receiver has not taken events for long: the sale goes on, the oldest events go.
      log('warn', 'webhook backlog full: dropping the oldest events (the receiver is not taking them)', {
        partition,
        budget: settings.backlogMax,
        droppedNow: droppedSinceLog,
        droppedInAll: total,
      });
      droppedSinceLog = 0;
    },
    onError: (error, partition) => {
      if (relayErrors++ % 60 === 0)
        log('warn', 'webhook relay failed (retrying)', { partition, ...errorFields(error) });
    },
  });
  const deliverer = createDeliverer(settings);
  const workers = config.workerPartitions.map((partition) =>
    createWebhookWorker(config, settings, redis, deliverer, log, metrics, partition),
  );
  for (const [i, worker] of workers.entries()) promoteOnRecovery(worker, queues[config.workerPartitions[i]!]!, log);
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
