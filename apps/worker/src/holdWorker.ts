import { Worker } from 'bullmq';
import {
  type Config,
  type HoldExpiryJob,
  type HoldRules,
  type HoldTimers,
  type Keys,
  type Logger,
  type RedisClient,
  type WorkerMetrics,
  errorFields,
  expireHolds,
  holdsPartitionQueue,
  workerId,
} from '@flashline/core';

/** Expiry timers run at once, each a script call or a few: a few at a time keep up with any sale. */
const HOLD_TIMER_CONCURRENCY = 4;

/**
 * The BullMQ worker of one partition of the holds queue: each job is a product's expiry timer. It ends
 * the product's holds past their deadline (each once, whoever else ends them) and sets the timer of
 * the next deadline, should its own slot have passed before it (a clock ahead of Redis's).
 */
export function createHoldWorker(
  config: Config,
  redis: RedisClient,
  log: Logger,
  parts: { keys: Keys; timers: HoldTimers; holdRules: HoldRules },
  partition: number,
  metrics?: WorkerMetrics,
): Worker<HoldExpiryJob, number> {
  const { name, prefix } = holdsPartitionQueue(config, partition);
  const worker = new Worker<HoldExpiryJob, number>(
    name,
    async (job) => {
      const { productId } = job.data;
      const { units, nextDueAt } = await expireHolds(redis, parts.keys, productId, parts.holdRules);
      if (nextDueAt !== null) await parts.timers.schedule(productId, nextDueAt);
      if (units > 0) metrics?.observeExpiredUnits(units);
      return units;
    },
    {
      connection: redis,
      prefix,
      name: workerId(),
      concurrency: HOLD_TIMER_CONCURRENCY,
      autorun: false,
      lockDuration: config.jobLockMs,
      stalledInterval: config.jobLockMs,
    },
  );
  worker.on('failed', (job, error) =>
    log('warn', 'hold expiry timer failed', { jobId: job?.id, attempt: job?.attemptsMade, ...errorFields(error) }),
  );
  worker.on('error', (error) => log('warn', 'hold worker error', errorFields(error)));
  return worker;
}
