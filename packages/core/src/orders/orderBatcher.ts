import type { Redis } from 'ioredis';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import type { ProductLocks } from '../locks/productLock.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import { claimAndCommit, commitOrders, type CommitResult, type CommitRules } from './commitOrder.ts';

export interface BatcherDeps {
  redis: Redis;
  keys: Keys;
  locks: ProductLocks;
  rules: CommitRules;
  /** Most orders one lock acquisition and one commit decide. */
  maxBatch: number;
  /** False: always take the lock the slow way (acquire, commit, release), for tests and comparisons. */
  claimInScript?: boolean;
}

interface Waiting {
  order: OrderJob;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Decides the orders of one worker process, batched per product: the jobs of a product that are
 * active at the same time wait here while one of them holds the product lock, and then all go
 * through one lock acquisition and one atomic commit. In a stampede on one product that turns
 * three Redis round trips per order into three per batch. The Redis lock arbitrates between
 * processes; inside a process only one batch per product runs at a time.
 */
export class OrderBatcher {
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly flushing = new Set<string>();
  /** Commits run so far (one per batch), and the orders they carried: for metrics and tests. */
  readonly stats = { batches: 0, orders: 0 };

  constructor(private readonly deps: BatcherDeps) {}

  decide(order: OrderJob): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(order.productId) ?? [];
      queue.push({ order, resolve, reject });
      this.waiting.set(order.productId, queue);
      if (!this.flushing.has(order.productId)) void this.flush(order.productId);
    });
  }

  private async flush(productId: string): Promise<void> {
    this.flushing.add(productId);
    try {
      // Let the jobs that arrive in the same turn of the event loop (replies read together) join
      // the first batch, instead of a batch of one followed by a batch of the rest.
      await new Promise((resolve) => setImmediate(resolve));
      for (;;) {
        const queue = this.waiting.get(productId) ?? [];
        if (queue.length === 0) break;
        const batch = queue.splice(0, this.deps.maxBatch);
        await this.commit(productId, batch);
      }
    } finally {
      this.flushing.delete(productId);
      this.waiting.delete(productId);
    }
  }

  /**
   * One batch under the lock. Most often the lock is free and the commit script claims and releases
   * it itself, in one round trip. When another holder has it, the batch takes it the slow way
   * (wait, acquire, commit, release): a lease lost before the commit aborts it; one lost during it
   * is caught by the fence inside the script. Either way every order of the batch fails and BullMQ
   * retries it.
   */
  private async commit(productId: string, batch: Waiting[]): Promise<void> {
    this.stats.batches += 1;
    this.stats.orders += batch.length;
    try {
      const orders = batch.map((w) => w.order);
      const claimed = this.deps.claimInScript === false ? null : await claimAndCommit(this.deps.redis, this.deps.keys, productId, orders, this.deps.rules);
      if (claimed) this.deps.locks.claimedInScript();
      const results = claimed ?? await this.deps.locks.using(productId, async (lease) => {
        lease.signal.throwIfAborted();
        const committed = commitOrders(this.deps.redis, this.deps.keys, productId, orders, lease.fence, this.deps.rules);
        // The release goes out right behind the commit, on the same connection: one round trip for
        // both, and the next holder (another process) need not wait for this reply to travel back.
        // Should the commit be re-sent after the release (a NOSCRIPT fallback), its fence still guards it.
        void lease.release();
        return committed;
      });
      batch.forEach((w, i) => {
        const result = results[i]!;
        if (result instanceof AppError) w.reject(result);
        else w.resolve(result);
      });
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}
