import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob, OrdersJobData } from '../queue/ordersQueue.ts';
import { decodeAcceptBatch, type AcceptBatchOrder } from '../redis/replies.ts';
import type { OrderStatus } from './order.ts';
import { newBatchId } from './orderId.ts';
import { GroupCommit } from '../run/groupCommit.ts';

export interface AcceptBatcherDeps {
  redis: Redis;
  keys: Keys;
  queue: Queue<OrdersJobData>;
  /** Most orders one accept call and one job carry (`ACCEPT_BATCH`); 1 = one job per order. */
  maxBatch: number;
  /** The per-user limit the counted orders are held to (its counters are the entries' `counter`). */
  perUser: { limit: number; windowMs: number };
  /** How long a bound Idempotency-Key lasts (`IDEMPOTENCY_TTL_S`). */
  idempotencyTtlS: number;
}

/** One request for the batch: its order (with a fresh id) and what else the accept call checks and writes for it. */
export interface AcceptEntry {
  order: OrderJob;
  /** The buyer's Idempotency-Key (its Redis key) and the body's fingerprint, when the request sent one. */
  idempotency?: { key: string; fingerprint: string };
  /** The buyer's request counter, when the per-user limit is on. */
  counter?: string;
}

/** What the batch did with a request: recorded (now, or found), or refused with nothing written or spent. */
export type Accepted =
  | { kind: 'recorded'; orderId: string; status: OrderStatus }
  | { kind: 'unknown_product' }
  | { kind: 'sold_out' }
  | { kind: 'reused' }
  | { kind: 'rate_limited'; retryInMs: number };

/** One entry's outcome inside a write: what the script said of it, or the error that stopped it. */
type Outcome = AcceptBatchOrder | { kind: 'failed'; error: unknown };

interface Waiting {
  entry: AcceptEntry;
  /** `orderId`: the order the call asked about (a copy of a request gets the first copy's). */
  resolve: (answer: { outcome: Outcome; orderId: string }) => void;
}

/** A key asked for again under the order id it names: a key rebound meanwhile (expired) may move it on, not forever. */
const MAX_FOLLOW_UPS = 3;

/**
 * Group commit (GroupCommit) for the accept path of one API process: the requests that arrive while
 * a batch is being written go together in the next, one `acceptBatch` call for the whole batch (keys,
 * per-user counts and order records together, whatever the products) and one `Queue.add`, instead
 * of several round trips and one job per order.
 * Each request resolves only once its order is recorded and its job added: never a 202 before the enqueue.
 */
export class AcceptBatcher {
  private readonly batches: GroupCommit<Waiting>;
  /** Jobs added so far and the orders they carried: for the bench and tests. */
  readonly stats = { jobs: 0, orders: 0 };

  constructor(private readonly deps: AcceptBatcherDeps) {
    this.batches = new GroupCommit(deps.maxBatch, (batch) => this.write(batch));
  }

  async record(entry: AcceptEntry): Promise<Accepted> {
    let asked = entry;
    for (let followUps = 0; ; followUps++) {
      const { outcome, orderId } = await this.submit(asked);
      switch (outcome.kind) {
        case 'new':
          return { kind: 'recorded', orderId, status: 'queued' };
        case 'existing':
          return { kind: 'recorded', orderId, status: outcome.status };
        case 'bound':
          // The key names an order this call could not read (its key was not in the call): ask for it.
          if (followUps === MAX_FOLLOW_UPS) throw new Error(`Idempotency-Key ${entry.idempotency?.key} keeps moving`);
          asked = { ...asked, order: { ...asked.order, orderId: outcome.orderId } };
          break;
        case 'failed':
          throw outcome.error;
        case 'rate_limited':
        case 'reused':
        case 'unknown_product':
        case 'sold_out':
          return outcome;
      }
    }
  }

  private submit(entry: AcceptEntry): Promise<{ outcome: Outcome; orderId: string }> {
    return new Promise((resolve) => {
      this.batches.push({ entry, resolve });
    });
  }

  private async write(batch: Waiting[]): Promise<void> {
    // The same request twice in a batch (a client retrying at once with its Idempotency-Key) is one
    // entry, and every copy gets its answer (and its order id).
    const byRequest = new Map<string, Waiting[]>();
    for (const waiting of batch) {
      const id = identity(waiting.entry);
      const same = byRequest.get(id);
      if (same) same.push(waiting);
      else byRequest.set(id, [waiting]);
    }
    const entries = [...byRequest.values()].map((same) => same[0]!.entry);
    const jobId = entries.length === 1 ? entries[0]!.order.orderId : newBatchId();
    const outcomes = await this.acceptAll(entries, jobId);
    const fresh: OrderJob[] = [];
    // An order that was already queued (a retry) may have lost its job: it is enqueued again alone,
    // under its own id, which BullMQ ignores when that job exists. The commit decides it once.
    const retried: OrderJob[] = [];
    entries.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      if (outcome.kind === 'new') fresh.push(entry.order);
      else if (outcome.kind === 'existing' && outcome.status === 'queued') retried.push(entry.order);
    });
    const enqueues = [
      ...(fresh.length > 0 ? [{ jobId, orders: fresh }] : []),
      ...retried.map((order) => ({ jobId: order.orderId, orders: [order] })),
    ];
    const failed = new Map<string, Outcome>();
    await Promise.all(
      enqueues.map(async (job) => {
        try {
          await this.enqueue(job.jobId, job.orders);
        } catch (error) {
          // Recorded but not enqueued: no 202. A retry with the same Idempotency-Key enqueues it,
          // and the reconciler re-drives whatever nobody retries.
          for (const order of job.orders) failed.set(order.orderId, { kind: 'failed', error });
        }
      }),
    );
    [...byRequest.values()].forEach((same, i) => {
      const { orderId } = entries[i]!.order;
      const outcome = failed.get(orderId) ?? outcomes[i]!;
      for (const waiting of same) waiting.resolve({ outcome, orderId });
    });
  }

  /**
   * The whole batch in one script call, its orders in sections by product. On a single Redis one call
   * may touch any keys; on Redis Cluster it would be split by slot (see docs/design.md, "Keys").
   */
  private async acceptAll(entries: AcceptEntry[], jobId: string): Promise<Outcome[]> {
    const { redis, keys, perUser, idempotencyTtlS } = this.deps;
    const byProduct = new Map<string, number[]>();
    entries.forEach((entry, i) => {
      const same = byProduct.get(entry.order.productId);
      if (same) same.push(i);
      else byProduct.set(entry.order.productId, [i]);
    });
    const keyList: string[] = [];
    const args: (string | number)[] = [
      Date.now(),
      jobId,
      Math.max(1, perUser.limit),
      perUser.windowMs,
      idempotencyTtlS,
      byProduct.size,
    ];
    const inCallOrder: number[] = [];
    for (const [productId, indexes] of byProduct) {
      keyList.push(keys.product(productId), keys.pending(productId));
      args.push(productId, indexes.length);
      for (const i of indexes) {
        const { order, idempotency, counter } = entries[i]!;
        keyList.push(keys.order(productId, order.orderId));
        if (idempotency) keyList.push(idempotency.key);
        if (counter) keyList.push(counter);
        const mode = (idempotency ? 1 : 0) + (counter ? 2 : 0);
        args.push(order.orderId, order.userId, order.quantity, mode, idempotency?.fingerprint ?? '-');
        inCallOrder.push(i);
      }
    }
    const outcomes = new Array<Outcome>(entries.length);
    try {
      const reply = decodeAcceptBatch(await redis.acceptBatch([keyList.length, ...keyList, ...args]), entries.length);
      if (reply.kind === 'invalid_arguments')
        // The API validates every order before it gets here: a refusal is a bug, answered 500.
        throw new Error(`acceptBatch refused the arguments of ${entries.length} orders`);
      inCallOrder.forEach((i, at) => (outcomes[i] = reply.orders[at]!));
    } catch (error) {
      outcomes.fill({ kind: 'failed', error });
    }
    return outcomes;
  }

  private async enqueue(jobId: string, orders: OrderJob[]): Promise<void> {
    // A lone order keeps the plain shape under its own id; a repeated add of an existing id is a no-op.
    const lone = orders.length === 1 && orders[0]!.orderId === jobId;
    await this.deps.queue.add(lone ? 'order' : 'orders', lone ? orders[0]! : { orders }, { jobId });
    this.stats.jobs += 1;
    this.stats.orders += orders.length;
  }
}

/** Two entries are the same request when they carry the same key and body, or (without a key) the same order. */
function identity(entry: AcceptEntry): string {
  const { idempotency } = entry;
  if (!idempotency) return `o ${entry.order.orderId}`;
  return `k ${idempotency.key} ${idempotency.fingerprint}`;
}
