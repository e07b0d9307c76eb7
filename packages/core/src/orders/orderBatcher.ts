import type { RedisClient } from '../redis/connect.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import type { ProductLocks } from '../locks/productLock.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import type { CommittedOrder, CommittedSection, CommitOrdersReply } from '../redis/replies.ts';
import { commitSections, type CommitResult, type CommitRules } from './commitOrder.ts';

export interface BatcherDeps {
  redis: RedisClient;
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

/** One product's orders in a commit. */
interface Section {
  productId: string;
  batch: Waiting[];
}

/**
 * Decides the orders of one worker process, batched per product, in waves. The orders of all the
 * active jobs wait here while a wave of commits is on the wire; then the next wave sends every
 * waiting order at once (ioredis writes the commits together, and one connection keeps their
 * order), in commits of up to `maxBatch` orders: one product's, or several products' of one group
 * (`keys.group`). The more jobs arrive during a wave, the more orders each commit carries: in a
 * stampede on one product three Redis round trips per order become one per wave; in a wide sale a
 * wave's orders fall on hundreds of products but on at most 64 groups, so a commit still carries
 * tens of orders. A commit finds each product's lock free and claims it in its own script. A product
 * whose lock someone holds takes it with a lease instead, off the wave (it may wait seconds): its
 * orders queue behind that lease, one batch at a time, and the waves go on for the other products.
 */
export class OrderBatcher {
  private readonly waiting = new Map<string, Waiting[]>();
  /** Products whose batches take the lock with a lease now, and the batches queued behind. */
  private readonly leased = new Map<string, Waiting[][]>();
  private waveOnTheWire = false;
  private scheduled = false;
  /** Commits run so far (script calls; one per batch under a lease), the products and the orders they carried: for metrics and tests. */
  readonly stats = { batches: 0, products: 0, orders: 0 };

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
    const commits = this.packWave();
    if (commits.length === 0) return;
    this.waveOnTheWire = true;
    try {
      await Promise.all(commits.map((commit) => this.commit(commit)));
    } finally {
      this.waveOnTheWire = false;
      if (this.waiting.size > 0) this.schedule();
    }
  }

  /**
   * The waiting orders as commits: the products of one group share a commit (one script call),
   * up to `maxBatch` orders each; a product with more orders than that spans consecutive commits,
   * which one connection runs in order.
   */
  private packWave(): Section[][] {
    const commits: Section[][] = [];
    // Per group: its last commit, and how many orders that commit holds.
    const open = new Map<number, { commit: Section[]; size: number }>();
    for (const [productId, queue] of this.waiting) {
      if (this.leased.has(productId)) continue; // they go after the lease, in order
      this.waiting.delete(productId);
      const group = this.deps.keys.group(productId);
      for (let taken = 0; taken < queue.length;) {
        let last = open.get(group);
        if (!last || last.size >= this.deps.maxBatch) {
          last = { commit: [], size: 0 };
          open.set(group, last);
          commits.push(last.commit);
        }
        const batch = queue.slice(taken, taken + this.deps.maxBatch - last.size);
        last.commit.push({ productId, batch });
        last.size += batch.length;
        taken += batch.length;
      }
    }
    return commits;
  }

  /** One commit: each product's lock claimed in the script when free; a held one's batch is queued for a lease. */
  private async commit(sections: Section[]): Promise<void> {
    if (this.deps.claimInScript === false) {
      for (const { productId, batch } of sections) {
        this.count(1, batch.length);
        this.lease(productId, batch);
      }
      return;
    }
    this.count(
      sections.length,
      sections.reduce((n, { batch }) => n + batch.length, 0),
    );
    let reply: CommitOrdersReply;
    try {
      reply = await commitSections(
        this.deps.redis,
        this.deps.keys,
        sections.map(({ productId, batch }) => ({ productId, orders: batch.map((w) => w.order), fence: 'claim' })),
        this.deps.rules,
      );
    } catch (error) {
      for (const { batch } of sections) rejectAll(batch, error);
      return;
    }
    this.settleReply(sections, 'claim', reply);
  }

  /** Stats for one script call carrying `products` products' `orders` orders. */
  private count(products: number, orders: number): void {
    this.stats.batches += 1;
    this.stats.products += products;
    this.stats.orders += orders;
  }

  /** Settles every batch of a commit by its reply, section by section. */
  private settleReply(sections: Section[], fence: number | 'claim', reply: CommitOrdersReply): void {
    switch (reply.kind) {
      case 'sections':
        sections.forEach(({ productId, batch }, i) => this.settle(productId, batch, fence, reply.sections[i]!));
        return;
      case 'invalid_arguments': {
        // The API validates every order before it is queued: this is a bug, and no retry helps.
        const products = sections.map((section) => section.productId).join(', ');
        const error = new AppError('invalid_request', `a commit for product ${products} had invalid arguments`);
        for (const { batch } of sections) rejectAll(batch, error);
        return;
      }
    }
  }

  /** Settles a batch by what the commit did with its section. */
  private settle(productId: string, batch: Waiting[], fence: number | 'claim', section: CommittedSection): void {
    switch (section.kind) {
      case 'decided':
        if (fence === 'claim') this.deps.locks.claimedInScript();
        batch.forEach((w, i) => settleOrder(w, section.orders[i]!));
        return;
      case 'lock_held':
        // Only a claim finds the lock held: someone else has it, so this batch takes it with a lease.
        this.lease(productId, batch);
        return;
      case 'stale_fence':
        rejectAll(batch, new AppError('lease_lost', `fencing token ${fence} for product ${productId} is stale`));
        return;
      case 'unknown_product':
        rejectAll(batch, new AppError('unknown_product', `product ${productId} does not exist`));
        return;
    }
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
    let settled: { fence: number; reply: CommitOrdersReply };
    try {
      settled = await this.deps.locks.using(productId, async (lease) => {
        lease.signal.throwIfAborted();
        const committed = commitSections(
          this.deps.redis,
          this.deps.keys,
          [{ productId, orders: batch.map((w) => w.order), fence: lease.fence }],
          this.deps.rules,
        );
        // The release goes out right behind the commit, on the same connection: one round trip for
        // both, and the next holder (another process) need not wait for this reply to travel back.
        // Should the commit be re-sent after the release (a NOSCRIPT fallback), its fence still guards it.
        void lease.release();
        return { fence: lease.fence, reply: await committed };
      });
    } catch (error) {
      rejectAll(batch, error);
      return;
    }
    this.settleReply([{ productId, batch }], settled.fence, settled.reply);
  }
}

function settleOrder(waiting: Waiting, order: CommittedOrder): void {
  switch (order.kind) {
    case 'decided':
      waiting.resolve({ decision: order.decision, applied: order.applied });
      return;
    case 'invalid':
      waiting.reject(
        new AppError('invalid_request', `order ${waiting.order.orderId} has invalid or contradicting arguments`),
      );
      return;
    case 'unknown':
      waiting.reject(
        new AppError('not_found', `order ${waiting.order.orderId} has no record: never accepted, or expired`),
      );
      return;
  }
}

function rejectAll(batch: Waiting[], error: unknown): void {
  for (const w of batch) w.reject(error);
}
