import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../keys/keys.ts';
import type { OrdersJobData } from '../queue/ordersQueue.ts';
import { listProducts } from '../products/products.ts';
import { failOrders } from './failOrders.ts';

export interface ReconcileDeps {
  redis: Redis;
  keys: Keys;
  queue: Queue<OrdersJobData>;
  /** An order still queued this long after acceptance is looked at. */
  afterMs: number;
  /** How long an order ended processing_failed is kept. */
  orderRetentionMs: number;
}

export interface ReconcileReport {
  /** Overdue orders looked at. */
  checked: number;
  /** Orders whose job was lost: enqueued again under the same id. */
  redriven: number;
  /** Orders whose job is over (failed) but that were never decided: ended processing_failed. */
  failed: number;
}

// A job in one of these states will still run: its order will be decided without help. An active
// job of a dead worker is BullMQ's to recover (it stalls and returns to wait).
const alive = new Set(['waiting', 'wait', 'active', 'delayed', 'prioritized', 'waiting-children']);
const BATCH = 500;

/**
 * Closes the gap between "accepted" and "decided": every order still queued `afterMs` after it was
 * accepted gets a job again if its job was lost (a crash between recording and enqueuing, a job
 * lost with Redis' last second of AOF), and is ended processing_failed if its job failed without
 * deciding it (stalled past the limit, or the worker died before marking it). Either path goes
 * through the idempotent commit or failOrder, so running it twice, or beside a worker, is safe.
 */
export async function reconcileOnce(deps: ReconcileDeps, now = Date.now()): Promise<ReconcileReport> {
  const { redis, keys, queue } = deps;
  const report: ReconcileReport = { checked: 0, redriven: 0, failed: 0 };
  // The orders of one batch share its job: its state is read once a pass, not once an order.
  const batchStates = new Map<string, Promise<string>>();
  const batchState = (batchId: string) =>
    batchStates.get(batchId) ?? batchStates.set(batchId, queue.getJobState(batchId)).get(batchId)!;
  for (const productId of await listProducts(redis, keys)) {
    const overdue = await redis.zrangebyscore(keys.pending(productId), '-inf', now - deps.afterMs, 'LIMIT', 0, BATCH);
    for (const orderKey of overdue) {
      report.checked += 1;
      const [status, userId, quantity, batchId] = await redis.hmget(orderKey, 'status', 'userId', 'quantity', 'job');
      const orderId = keys.orderIdOf(orderKey);
      if (status !== 'queued' || !userId || !quantity) {
        await redis.zrem(keys.pending(productId), orderKey); // decided, or gone (expired)
        continue;
      }
      // Its batch's job (when it came in one), and a job of its own (a lone order, or a re-drive).
      const [ofBatch, job] = await Promise.all([batchId ? batchState(batchId) : 'missing', queue.getJob(orderId)]);
      const state = job ? await job.getState() : 'missing';
      if (alive.has(state) || alive.has(ofBatch)) continue;
      if (state === 'failed' || (ofBatch === 'failed' && !job)) {
        report.failed += await failOrders(redis, keys, [{ productId, orderId }], deps.orderRetentionMs);
        continue;
      }
      // Missing, or finished without a decision: run it again. A stale finished job must go first,
      // or BullMQ would take the add for a duplicate and ignore it.
      if (job) await job.remove();
      await queue.add('order', { orderId, productId, userId, quantity: Number(quantity) }, { jobId: orderId });
      // From now on the order's own job is the one to watch.
      if (batchId) await redis.hdel(orderKey, 'job');
      report.redriven += 1;
    }
  }
  return report;
}

/**
 * Runs `reconcileOnce` every `intervalMs` in whichever process holds the reconciler lease, so a
 * pool of workers reconciles once per interval, not once per process. Returns a stop function.
 */
export function startReconciler(
  deps: ReconcileDeps & { intervalMs: number },
  onReport: (report: ReconcileReport) => void,
  onError: (error: unknown) => void,
): () => void {
  const token = randomBytes(8).toString('hex');
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    deps.redis
      .set(deps.keys.reconciler(), token, 'PX', deps.intervalMs, 'NX')
      .then((won) => (won ? reconcileOnce(deps).then(onReport) : undefined))
      .catch(onError)
      .finally(() => (running = false));
  }, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
