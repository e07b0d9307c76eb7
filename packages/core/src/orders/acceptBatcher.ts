import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob, OrdersJobData } from '../queue/ordersQueue.ts';
import { decodeAcceptOrders, type AcceptedOrder } from '../redis/replies.ts';
import type { OrderStatus } from './order.ts';
import { newBatchId } from './orderId.ts';

export interface AcceptBatcherDeps {
  redis: Redis;
  keys: Keys;
  queue: Queue<OrdersJobData>;
  /** Most orders one record call and one job carry (`ACCEPT_BATCH`); 1 = one job per order. */
  maxBatch: number;
}

/** What recording an order said: its status (queued, or whatever it already was), or why it was refused. */
export type Recorded = { kind: 'recorded'; status: OrderStatus } | { kind: 'unknown_product' } | { kind: 'sold_out' };

/** One order's outcome inside a write: what the script said of it, or the error that stopped it. */
type Outcome = AcceptedOrder | { kind: 'unknown_product' } | { kind: 'failed'; error: unknown };

const QUEUED: Recorded = Object.freeze({ kind: 'recorded', status: 'queued' });
const UNKNOWN_PRODUCT: Outcome = Object.freeze({ kind: 'unknown_product' });

interface Waiting {
  order: OrderJob;
  resolve: (recorded: Recorded) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for the accept path of one API process. Orders that arrive while a batch is being
 * written wait here and go together in the next: one `acceptOrders` call per product and one
 * `Queue.add` for the whole batch, instead of two round trips and one job per order. Nothing
 * waits on a timer: a lone order goes at once (the next turn of the event loop), so batches only
 * grow when requests overlap, which is exactly when round trips are worth saving.
 * Each order resolves only once it is recorded and its job added: never a 202 before the enqueue.
 */
export class AcceptBatcher {
  private waiting: Waiting[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Jobs added so far and the orders they carried: for the bench and tests. */
  readonly stats = { jobs: 0, orders: 0 };

  constructor(private readonly deps: AcceptBatcherDeps) {}

  record(order: OrderJob): Promise<Recorded> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ order, resolve, reject });
      this.schedule();
    });
  }

  // A batch goes when none is being written, or at once when it is full: under load one write is
  // in flight while the next batch fills, and a full batch never waits for a slow one.
  private schedule(): void {
    if (this.scheduled || (this.inFlight > 0 && this.waiting.length < this.deps.maxBatch)) return;
    this.scheduled = true;
    // Let the requests parsed in the same turn of the event loop join this batch.
    setImmediate(() => {
      this.scheduled = false;
      if (this.waiting.length === 0) return;
      const batch = this.waiting.splice(0, this.deps.maxBatch);
      this.inFlight += 1;
      void this.write(batch).finally(() => {
        this.inFlight -= 1;
        if (this.waiting.length > 0) this.schedule();
      });
      if (this.waiting.length > 0) this.schedule();
    });
  }

  private async write(batch: Waiting[]): Promise<void> {
    // The same order twice in a batch (a client retrying at once with its Idempotency-Key) is one entry.
    const byOrder = new Map<string, Waiting[]>();
    for (const waiting of batch)
      byOrder.set(waiting.order.orderId, [...(byOrder.get(waiting.order.orderId) ?? []), waiting]);
    const orders = [...byOrder.values()].map((same) => same[0]!.order);
    const jobId = orders.length === 1 ? orders[0]!.orderId : newBatchId();
    const outcomes = await this.recordAll(orders, jobId);
    const fresh = orders.filter((order) => outcomes.get(order.orderId)?.kind === 'new');
    // An order that was already queued (a retry) may have lost its job: it is enqueued again alone,
    // under its own id, which BullMQ ignores when that job exists. The commit decides it once.
    const retried = orders.filter((order) => {
      const outcome = outcomes.get(order.orderId);
      return outcome?.kind === 'existing' && outcome.status === 'queued';
    });
    const enqueues = [
      ...(fresh.length > 0 ? [{ jobId, orders: fresh }] : []),
      ...retried.map((order) => ({ jobId: order.orderId, orders: [order] })),
    ];
    await Promise.all(
      enqueues.map(async (job) => {
        try {
          await this.enqueue(job.jobId, job.orders);
        } catch (error) {
          // Recorded but not enqueued: no 202. A retry with the same Idempotency-Key enqueues it,
          // and the reconciler re-drives whatever nobody retries.
          for (const order of job.orders) outcomes.set(order.orderId, { kind: 'failed', error });
        }
      }),
    );
    for (const [orderId, same] of byOrder) {
      const outcome = outcomes.get(orderId)!;
      for (const waiting of same) settle(waiting, outcome);
    }
  }

  /** Records the orders, one call per product (each stays in its product's Cluster slot), all sent together. */
  private async recordAll(orders: OrderJob[], jobId: string): Promise<Map<string, Outcome>> {
    const byProduct = new Map<string, OrderJob[]>();
    for (const order of orders) byProduct.set(order.productId, [...(byProduct.get(order.productId) ?? []), order]);
    const now = Date.now();
    const outcomes = new Map<string, Outcome>();
    await Promise.all(
      [...byProduct].map(async ([productId, group]) => {
        try {
          const replies = await this.recordGroup(productId, group, jobId, now);
          group.forEach((order, i) => outcomes.set(order.orderId, replies[i]!));
        } catch (error) {
          for (const order of group) outcomes.set(order.orderId, { kind: 'failed', error });
        }
      }),
    );
    return outcomes;
  }

  private async recordGroup(productId: string, group: OrderJob[], jobId: string, now: number): Promise<Outcome[]> {
    const { redis, keys } = this.deps;
    const reply = decodeAcceptOrders(
      await redis.acceptOrders([
        2 + group.length,
        keys.product(productId),
        keys.pending(productId),
        ...group.map((order) => keys.order(productId, order.orderId)),
        productId,
        now,
        jobId,
        ...group.flatMap((order) => [order.orderId, order.userId, order.quantity]),
      ]),
      group.length,
    );
    switch (reply.kind) {
      case 'recorded':
        return reply.orders;
      case 'unknown_product':
        return group.map(() => UNKNOWN_PRODUCT);
      case 'invalid_arguments':
        // The API validates every order before it gets here: a refusal is a bug, answered 500.
        throw new Error(`acceptOrders refused the arguments of ${group.length} orders of product ${productId}`);
    }
  }

  private async enqueue(jobId: string, orders: OrderJob[]): Promise<void> {
    // A lone order keeps the plain shape under its own id; a repeated add of an existing id is a no-op.
    const lone = orders.length === 1 && orders[0]!.orderId === jobId;
    await this.deps.queue.add(lone ? 'order' : 'orders', lone ? orders[0]! : { orders }, { jobId });
    this.stats.jobs += 1;
    this.stats.orders += orders.length;
  }
}

function settle(waiting: Waiting, outcome: Outcome): void {
  switch (outcome.kind) {
    case 'new':
      return waiting.resolve(QUEUED);
    case 'existing':
      return waiting.resolve({ kind: 'recorded', status: outcome.status });
    case 'sold_out':
    case 'unknown_product':
      return waiting.resolve(outcome);
    case 'failed':
      return waiting.reject(outcome.error);
  }
}
