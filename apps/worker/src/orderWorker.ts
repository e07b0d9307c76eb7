import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import {
  type RedisClient,
  AppError,
  ProductLocks,
  createHoldsQueues,
  createKeys,
  createOrdersQueues,
  holdRulesOf,
  HoldTimers,
  type HoldRules,
  type HoldsQueues,
  partitionQueue,
  type OrdersQueues,
  OrderBatcher,
  errorFields,
  failOrders,
  isRedisFull,
  publishDecided,
  reopenOrder,
  type Config,
  type Decision,
  type Keys,
  type Logger,
  ordersOf,
  type OrderJob,
  type OrdersJobData,
  type RejectReason,
  workerId,
  type WorkerMetrics,
  type WebhookEvents,
} from '@flashline/core';

// A job whose arguments are wrong stays wrong, and an order with no record (never accepted, or
// expired) never gets one: retrying cannot help.
const permanent = new Set(['invalid_request', 'unknown_product', 'not_found']);

/** The longest a job waits between tries while Redis is full: orders resume within this of memory being freed. */
const FULL_BACKOFF_MAX_MS = 5000;

/**
 * What a batch job fails with: the one reason its orders failed for, or every distinct reason when
 * there were several (a stale fence on one product, a lock held too long on another): the log line
 * and the job's failedReason in Bull Board then hide none of them.
 */
function jobFailure(reasons: unknown[], orderCount: number): unknown {
  const messages = [...new Set(reasons.map((reason) => (reason instanceof Error ? reason.message : String(reason))))];
  if (messages.length === 1) return reasons[0];
  const shown = messages.slice(0, 5).join('; ') + (messages.length > 5 ? `; and ${messages.length - 5} more` : '');
  return new AggregateError(reasons, `${reasons.length} of ${orderCount} orders failed: ${shown}`);
}

/**
 * What a job returns: a lone order's decision, or how many orders of a batch ended each way
 * (`confirmed`, `reserved`, `sold_out`, `limit_exceeded`, `processing_failed`, and `unknown` for an order with no
 * record, which was never accepted or has expired, and is left alone). Each order's own decision is in
 * its order record; BullMQ keeps a job's result with it, so a batch's stays a few bytes.
 */
export type JobResult = Decision | Partial<Record<'confirmed' | 'reserved' | RejectReason | 'unknown', number>>;

/** What a worker process is built from, once: main.ts and createOrderWorker share these. */
export interface WorkerParts {
  keys: Keys;
  batcher: OrderBatcher;
  /** The orders queue's partitions (producer handles): the reconciler re-drives lost jobs through them. */
  queues: OrdersQueues;
  /** The holds queue's partitions: the expiry timers of held orders. */
  holdsQueues: HoldsQueues;
  timers: HoldTimers;
  holdRules: HoldRules;
}

export function createWorkerParts(
  config: Config,
  redis: RedisClient,
  metrics?: WorkerMetrics,
  /** The system's webhooks setting; without it, this process's WEBHOOK_URL decides. */
  webhookEvents?: WebhookEvents,
): WorkerParts {
  const keys = createKeys(config.keyPrefix);
  const holdRules = holdRulesOf(config, webhookEvents);
  const holdsQueues = createHoldsQueues(config, redis);
  const batcher = new OrderBatcher({
    redis,
    keys,
    locks: new ProductLocks(redis, keys, config.lock, metrics?.lockObserver),
    rules: {
      maxQuantity: config.maxQuantity,
      orderRetentionMs: config.orderRetentionMs,
      brokenOnPurpose: config.brokenOnPurpose,
      ...(config.replication.replicas > 0 ? { replication: config.replication } : {}),
      // The system's setting, read at each commit (a getter: a copy would freeze it).
      get events() {
        return holdRules.events;
      },
    },
    maxBatch: config.maxBatch,
    claimInScript: config.commitClaimsLock,
  });
  metrics?.trackBatches(() => batcher.stats);
  return {
    keys,
    batcher,
    queues: createOrdersQueues(config, redis),
    holdsQueues,
    timers: new HoldTimers(holdsQueues, keys),
    holdRules,
  };
}

/**
 * One BullMQ worker deciding the orders of one partition of the queue (a worker process runs one per
 * partition it consumes, sharing its parts: one OrderBatcher, so one lock and one commit per product
 * whichever partition a job came from). A job carries one order or a batch (the orders an API process
 * accepted together); every order goes through the per-product OrderBatcher, so the orders of one
 * product in the active jobs share one lock acquisition and one commit. Business rejections
 * (sold_out, limit_exceeded) are results, not failures: the job completes. Infrastructure errors
 * throw, and BullMQ retries the job with backoff (orders it already decided replay their decision);
 * when the last attempt fails, its undecided orders end rejected / processing_failed, never stuck queued.
 * A job whose commits a full Redis refused (OOM) is retried with backoff without spending an attempt:
 * a Redis full for a while must not end orders processing_failed (deferWhileRedisFull).
 */
export function createOrderWorker(
  config: Config,
  redis: RedisClient,
  log: Logger,
  metrics?: WorkerMetrics,
  parts: WorkerParts = createWorkerParts(config, redis, metrics),
  partition = 0,
): Worker<OrdersJobData, JobResult> {
  const { keys, batcher, timers } = parts;
  if (config.brokenOnPurpose.length > 0)
    log('warn', 'SAFETY CHECKS OFF ON PURPOSE (FLASHLINE_BREAK): test use only', { broken: config.brokenOnPurpose });

  // Gives up on orders (ends those still undecided processing_failed), counting only those it ended.
  const giveUp = async (orders: readonly OrderJob[]) => {
    const failed = await failOrders(redis, keys, orders, config.orderRetentionMs, parts.holdRules.events);
    if (failed > 0) metrics?.observeFailed(failed);
  };

  // Tells the API processes which of a job's orders are decided (replays included): one message per job,
  // sent once the job's orders are settled, and not awaited. Lost (Redis down, this process killed right
  // after the commit), it only delays the answer of a request waiting on them to the end of its wait.
  const announce = (orders: readonly Pick<OrderJob, 'orderId'>[]) => {
    publishDecided(
      redis,
      keys,
      orders.map((order) => order.orderId),
    ).catch((error: unknown) => log('debug', 'could not announce decisions', errorFields(error)));
  };

  // One order of a job: its decision, or its error.
  const decideOne = async (order: OrderJob, reopen: boolean, timestamp: number): Promise<Decision> => {
    if (reopen) {
      // Every run after the first asks (a job's history cannot tell a backoff retry from an operator's);
      // only an order that had ended processing_failed is reopened, and only that is an operator's retry.
      if (await reopenOrder(redis, keys, order.productId, order.orderId))
        log('info', 'failed order retried by an operator', { orderId: order.orderId, reopened: true });
    }
    const { decision, applied } = await batcher.decide(order);
    // A held order's job completes only once its expiry timer is set (a replay sets it again, in vain).
    if (decision.status === 'reserved') await timers.schedule(order.productId, decision.holdExpiresAt);
    // Counted once per order: a replay (the decision was stored by an earlier run) is not.
    // job.timestamp is set when the API enqueued the order, right after accepting it.
    if (applied) metrics?.observeDecision(decision, timestamp);
    return decision;
  };

  /**
   * Redis refused the job's commits because it is full (they wrote nothing): the job waits in `delayed`
   * and runs again, its attempts unspent (DelayedError), the delay doubling from JOB_BACKOFF_MS up to
   * FULL_BACKOFF_MAX_MS. BullMQ's move starts by deleting the job's lock, a command Redis allows when full,
   * and a script that has written may go on writing: the move goes through while Redis is still full.
   * Should it fail all the same, the original error goes to BullMQ, as for any other failure.
   */
  const deferWhileRedisFull = async (job: Job<OrdersJobData>, token: string | undefined, error: unknown) => {
    // Runs of this job that did not end in a counted attempt: its deferrals so far (and any stall).
    const deferrals = Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
    const delayMs = Math.min(config.jobBackoffMs * 2 ** deferrals, FULL_BACKOFF_MAX_MS);
    try {
      await job.moveToDelayed(Date.now() + delayMs, token);
    } catch {
      throw error;
    }
    log(deferrals === 0 ? 'warn' : 'debug', 'Redis is full: order job deferred, attempts unspent', {
      jobId: job.id,
      deferrals: deferrals + 1,
      delayMs,
      ...errorFields(error),
    });
    throw new DelayedError();
  };

  const queue = partitionQueue(config, partition);
  const worker = new Worker<OrdersJobData, JobResult>(
    queue.name,
    async (job, token) => {
      // A job that ran before (an attempt failed, or it stalled) may be an operator's retry of a job
      // that failed for good: attempts exhausted, an error no retry could help, or the stall limit
      // (BullMQ keeps attemptsMade and the stall count on retry). Its orders ended processing_failed,
      // so they are reopened and decided now, through the same idempotent commit; reopening touches
      // only processing_failed orders, and a job's first run never pays for it.
      const reopen = job.attemptsMade > 0 || job.stalledCounter > 0;
      if (!('orders' in job.data)) {
        try {
          const decision = await decideOne(job.data, reopen, job.timestamp);
          announce([job.data]);
          return decision;
        } catch (error) {
          if (error instanceof AppError && permanent.has(error.code)) throw new UnrecoverableError(error.message);
          if (isRedisFull(error)) return await deferWhileRedisFull(job, token, error);
          throw error;
        }
      }
      const orders = job.data.orders;
      const settled = await Promise.allSettled(orders.map((order) => decideOne(order, reopen, job.timestamp)));
      // An order no retry can help (its product deleted, say) ends processing_failed alone; any other
      // error retries the whole job, and the orders decided meanwhile replay their decisions.
      const retryable = settled.filter(
        (s): s is PromiseRejectedResult =>
          s.status === 'rejected' && !(s.reason instanceof AppError && permanent.has(s.reason.code)),
      );
      if (retryable.length > 0) {
        const reasons = retryable.map((s): unknown => s.reason);
        const failure = jobFailure(reasons, orders.length);
        // Only when Redis being full is all that failed: another failure spends its attempt as always.
        if (reasons.every(isRedisFull)) return await deferWhileRedisFull(job, token, failure);
        throw failure;
      }
      const counts: Partial<Record<'confirmed' | 'reserved' | RejectReason | 'unknown', number>> = {};
      const count = (outcome: keyof typeof counts) => (counts[outcome] = (counts[outcome] ?? 0) + 1);
      const failedForGood: OrderJob[] = [];
      const decided: OrderJob[] = [];
      settled.forEach((s, i) => {
        const order = orders[i]!;
        if (s.status === 'fulfilled') {
          count(s.value.status === 'rejected' ? s.value.reason : s.value.status);
          decided.push(order);
          return;
        }
        if (s.reason instanceof AppError && s.reason.code === 'not_found') {
          log('warn', 'job names an order with no record: nothing decided', { orderId: order.orderId, jobId: job.id });
          count('unknown');
          return;
        }
        log('warn', 'order failed for good', { orderId: order.orderId, jobId: job.id, ...errorFields(s.reason) });
        failedForGood.push(order);
        count('processing_failed');
      });
      await giveUp(failedForGood);
      announce([...decided, ...failedForGood]);
      return counts;
    },
    {
      connection: redis,
      prefix: queue.prefix,
      // `<host>:<pid>`, kept on each job it runs (processedBy): operators can tell which process has a job.
      name: workerId(),
      // WORKER_CONCURRENCY is the process's, shared by the partitions it consumes.
      concurrency: Math.max(1, Math.ceil(config.workerConcurrency / config.workerPartitions.length)),
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
          log('warn', 'order attempt failed, will retry', {
            jobId: job.id,
            attempt: job.attemptsMade,
            ...errorFields(error),
          });
          return;
        }
        log('warn', 'order failed for good', { jobId: job.id, attempts: job.attemptsMade, ...errorFields(error) });
        // Only a queued order changes: those of a batch already decided keep their decision.
        const orders = ordersOf(job.data);
        await giveUp(orders);
        announce(orders);
      })
      .catch((failError: unknown) => {
        // Redis is down as well: the order stays queued until a reconciler decides it.
        log('error', 'could not mark orders processing_failed', { jobId: job.id, ...errorFields(failError) });
      });
  });

  worker.on('error', (error) => log('warn', 'worker error', errorFields(error)));
  return worker;
}
