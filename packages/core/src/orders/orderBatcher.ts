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
 * Decides the orders of one worker process, batched per product, in waves. The orders of all the
 * active jobs wait here while a wave of commits is on the wire; then the next wave sends, for every
 * product with orders waiting, its orders in commits of up to `maxBatch`, all at once (ioredis
 * writes them together, and one connection keeps their order). The more jobs arrive during a wave,
 * the more orders each commit carries: in a stampede on one product three Redis round trips per
 * order become one per wave; in a wide sale the cold products' orders gather across jobs too.
 * A commit finds the product lock free and claims it in its own script (one round trip). A product
 * whose lock someone holds takes it with a lease instead, off the wave (it may wait seconds): its
 * orders queue behind that lease, one batch at a time, and the waves go on for the other products.
 */
export class OrderBatcher {
  private readonly waiting = new Map<string, Waiting[]>();
  /** Products whose batches take the lock with a lease now, and the batches queued behind. */
  private readonly leased = new Map<string, Waiting[][]>();
  private waveOnTheWire = false;
  private scheduled = false;
  /** Commits run so far (one per batch), and the orders they carried: for metrics and tests. */
  readonly stats = { batches: 0, orders: 0 };

  constructor(private readonly deps: BatcherDeps) {}

  decide(order: OrderJob): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(order.productId) ?? [];
      queue.push({ order, resolve, reject });
      this.waiting.set(order.productId, queue);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.waveOnTheWire) return;
    this.scheduled = true;
    // Let the jobs that arrive in the same turn of the event loop (replies read together) join
    // this wave, instead of a wave of one job followed by a wave of the rest.
    setImmediate(() => {
      this.scheduled = false;
      void this.sendWave();
    });
  }

  private async sendWave(): Promise<void> {
    const batches: [string, Waiting[]][] = [];
    for (const [productId, queue] of this.waiting) {
      if (this.leased.has(productId)) continue; // they go after the lease, in order
      this.waiting.delete(productId);
      for (let i = 0; i < queue.length; i += this.deps.maxBatch) batches.push([productId, queue.slice(i, i + this.deps.maxBatch)]);
    }
    if (batches.length === 0) return;
    this.waveOnTheWire = true;
    try {
      await Promise.all(batches.map(([productId, batch]) => this.commit(productId, batch)));
    } finally {
      this.waveOnTheWire = false;
      if (this.waiting.size > 0) this.schedule();
    }
  }

  /** One batch: claimed and committed in one script when the lock is free, else queued for a lease. */
  private async commit(productId: string, batch: Waiting[]): Promise<void> {
    this.stats.batches += 1;
    this.stats.orders += batch.length;
    if (this.deps.claimInScript === false) return this.lease(productId, batch);
    let results: (CommitResult | AppError)[] | null;
    try {
      results = await claimAndCommit(this.deps.redis, this.deps.keys, productId, batch.map((w) => w.order), this.deps.rules);
    } catch (error) {
      for (const w of batch) w.reject(error);
      return;
    }
    if (results === null) return this.lease(productId, batch); // someone holds the lock
    this.deps.locks.claimedInScript();
    settle(batch, results);
  }

  /** Queues a batch behind the product's lease; the first batch starts the queue, off the wave. */
  private lease(productId: string, batch: Waiting[]): void {
    const queued = this.leased.get(productId);
    if (queued) {
      queued.push(batch);
      return;
    }
    const queue = [batch];
    this.leased.set(productId, queue);
    void (async () => {
      try {
        for (let next = queue.shift(); next; next = queue.shift()) await this.commitUnderLease(productId, next);
      } finally {
        this.leased.delete(productId);
        if (this.waiting.has(productId)) this.schedule();
      }
    })();
  }

  /**
   * One batch under a lease. A lease lost before the commit aborts it; one lost during it is caught
   * by the fence inside the script. Either way every order of the batch fails and BullMQ retries it.
   */
  private async commitUnderLease(productId: string, batch: Waiting[]): Promise<void> {
    try {
      const results = await this.deps.locks.using(productId, async (lease) => {
        lease.signal.throwIfAborted();
        const committed = commitOrders(this.deps.redis, this.deps.keys, productId, batch.map((w) => w.order), lease.fence, this.deps.rules);
        // The release goes out right behind the commit, on the same connection: one round trip for
        // both, and the next holder (another process) need not wait for this reply to travel back.
        // Should the commit be re-sent after the release (a NOSCRIPT fallback), its fence still guards it.
        void lease.release();
        return committed;
      });
      settle(batch, results);
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}

function settle(batch: Waiting[], results: (CommitResult | AppError)[]): void {
  batch.forEach((w, i) => {
    const result = results[i]!;
    if (result instanceof AppError) w.reject(result);
    else w.resolve(result);
  });
}
