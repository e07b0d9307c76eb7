import { DelayedError, Worker } from 'bullmq';
import {
  type Config,
  type HoldExpiryJob,
  type HoldRules,
  HoldTimers,
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
/** How long a timer that fired before its deadline (by Redis's clock) waits before it looks again. */
const EARLY_RECHECK_MS = 100;

/**
 * The BullMQ worker of one partition of the holds queue: each job is a product's expiry timer. It ends
 * the product's holds past their deadline (each once, whoever else ends them) and sets the timer of
 * the next deadline; when that deadline is in its own slot (it fired early: a clock ahead of Redis's),
 * it looks again shortly instead.
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
    async (job, token) => {
      const { productId } = job.data;
      const { units, nextDueAt } = await expireHolds(redis, parts.keys, productId, parts.holdRules);
      if (units > 0) metrics?.observeExpiredUnits(units);
      if (nextDueAt === null) return units;
      // The next deadline is in this very timer's slot: it fired before the deadline by Redis's clock (this
      // process's clock is ahead). A timer set under its own id would be ignored (this job is running), and
      // the hold would end only at the reconciler's sweep: the job waits a moment and looks again.
      if (HoldTimers.jobIdOf(productId, nextDueAt) === job.id && token) {
        await job.moveToDelayed(Date.now() + EARLY_RECHECK_MS, token);
        throw new DelayedError();
      }
      await parts.timers.schedule(productId, nextDueAt);
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
