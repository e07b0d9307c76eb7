import { UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AppError,
  ORDERS_QUEUE,
  ProductLocks,
  createKeys,
  OrderBatcher,
  errorFields,
  failOrder,
  reopenOrder,
  type Config,
  type Decision,
  type Logger,
  type OrderJob,
  type WorkerMetrics,
} from '@flashline/core';

// A job whose arguments are wrong stays wrong: retrying it cannot help.
const permanent = new Set(['invalid_request', 'unknown_product']);

/**
 * One BullMQ worker deciding orders. Business rejections (sold_out, limit_exceeded) are results,
 * not failures: the job completes. Infrastructure errors throw, and BullMQ retries with backoff;
 * when the last attempt fails, the order ends rejected / processing_failed, never stuck queued.
 */
export function createOrderWorker(config: Config, redis: Redis, log: Logger, metrics?: WorkerMetrics): Worker<OrderJob, Decision> {
  const keys = createKeys(config.keyPrefix);
  const batcher = new OrderBatcher({
    redis,
    keys,
    locks: new ProductLocks(redis, keys, config.lock, metrics?.lockObserver),
    rules: { maxQuantity: config.maxQuantity, orderRetentionMs: config.orderRetentionMs, brokenOnPurpose: config.brokenOnPurpose },
    maxBatch: config.maxBatch,
  });
  metrics?.trackBatches(() => batcher.stats);
  if (config.brokenOnPurpose.length > 0) log('warn', 'SAFETY CHECKS OFF ON PURPOSE (FLASHLINE_BREAK): test use only', { broken: config.brokenOnPurpose });

  const worker = new Worker<OrderJob, Decision>(
    ORDERS_QUEUE,
    async (job) => {
      try {
        // A run past the job's attempts is an operator's retry of a failed job (BullMQ keeps
        // attemptsMade on retry): its order ended processing_failed, so it is reopened and decided
        // now, through the same idempotent commit.
        if (job.attemptsMade >= (job.opts.attempts ?? 1)) {
          const reopened = await reopenOrder(redis, keys, job.data.productId, job.data.orderId);
          log('info', 'failed order retried by an operator', { orderId: job.id, reopened });
        }
        const { decision, applied } = await batcher.decide(job.data);
        // Counted once per order: a replay (the decision was stored by an earlier run) is not.
        // job.timestamp is set when the API enqueued the order, right after accepting it.
        if (applied) metrics?.observeDecision(decision, job.timestamp);
        return decision;
      } catch (error) {
        if (error instanceof AppError && permanent.has(error.code)) throw new UnrecoverableError(error.message);
        throw error;
      }
    },
    {
      connection: redis,
      prefix: config.queuePrefix,
      concurrency: config.workerConcurrency,
      autorun: false,
      // A worker that dies holding a job is noticed within one lock period; the job runs again.
      lockDuration: config.jobLockMs,
      stalledInterval: config.jobLockMs,
      maxStalledCount: config.maxStalled,
    },
  );

  worker.on('failed', (job, error) => {
    if (!job) return;
    // Final when BullMQ left the job in `failed`: attempts exhausted, an UnrecoverableError, or
    // stalled past maxStalledCount. A job headed for another attempt is `delayed` or `wait`.
    void job
      .getState()
      .then(async (state) => {
        if (state !== 'failed') {
          log('warn', 'order attempt failed, will retry', { orderId: job.id, attempt: job.attemptsMade, ...errorFields(error) });
          return;
        }
        log('warn', 'order failed for good', { orderId: job.id, attempts: job.attemptsMade, ...errorFields(error) });
        await failOrder(redis, keys, job.data.productId, job.data.orderId, config.orderRetentionMs);
        metrics?.observeFailed();
      })
      .catch((failError: unknown) => {
        // Redis is down as well: the order stays queued until a reconciler decides it.
        log('error', 'could not mark order processing_failed', { orderId: job.id, ...errorFields(failError) });
      });
  });

  worker.on('error', (error) => log('warn', 'worker error', errorFields(error)));
  return worker;
}
