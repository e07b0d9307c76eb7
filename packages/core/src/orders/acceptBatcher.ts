import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob, OrdersQueues } from '../queue/ordersQueue.ts';
import { partitionOfGroup } from '../queue/ordersQueue.ts';
import { parseBinding } from './keyLookups.ts';
import {
  decodeAcceptBatch,
  decodeClaimBuyers,
  decodeReadStock,
  decodeRecordOrders,
  decodeReleaseBuyers,
  type AcceptBatchOrder,
  type ClaimedBuyer,
  type RecordedOrder,
  type StockRead,
  type WindowRefusal,
} from '../redis/replies.ts';
import type { OrderStatus } from './order.ts';
import { newBatchId } from './orderId.ts';
import { groupBy } from '../collections/groupBy.ts';
import { GroupCommit } from '../run/groupCommit.ts';
import { unreplicated, type Replication } from '../redis/replication.ts';

export interface AcceptBatcherDeps {
  redis: RedisClient;
  keys: Keys;
  queues: OrdersQueues;
  /** Most orders one accept call and one job carry (`ACCEPT_BATCH`); 1 = one job per order. */
  maxBatch: number;
  /** The per-user limit the counted orders are held to (its counters are the entries' `counter`). */
  perUser: { limit: number; windowMs: number };
  /** How long a bound Idempotency-Key lasts (`IDEMPOTENCY_TTL_S`). */
  idempotencyTtlS: number;
  /**
   * Accept in steps, each in one slot (readStock, claimBuyers, recordOrders, releaseBuyers): what a
   * cluster needs. Default: on a cluster only; a single Redis takes the whole batch in one acceptBatch call.
   */
  inSteps?: boolean;
  /** REDIS_WAIT_REPLICAS: a recorded order is answered only once this many replicas hold what the batch wrote. */
  replication?: Replication;
}

/** One request for the batch: its order (with a fresh id) and what else the accept calls check and write for it. */
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
  | WindowRefusal
  | { kind: 'reused' }
  | { kind: 'rate_limited'; retryInMs: number };

/**
 * One entry's outcome inside a write: what the calls said of it, or the error that stopped it
 * ('bound' only from the one call: the key names an order that call was not given the key of).
 */
type Outcome =
  Exclude<ClaimedBuyer, { kind: 'claimed' }> | RecordedOrder | AcceptBatchOrder | { kind: 'failed'; error: unknown };

/** A key asked for again under the order id it names: a key rebound meanwhile (expired) may move it on, not forever. */
const MAX_FOLLOW_UPS = 3;

interface Waiting {
  entry: AcceptEntry;
  /** `orderId`: the order the request got (a retry's key names an earlier one; a copy gets the first copy's). */
  resolve: (answer: { outcome: Outcome; orderId: string }) => void;
}

/** An entry as the products' step sees it: the order it records (a retry's is the one its key names). */
interface ToRecord {
  index: number;
  order: OrderJob;
  /** Claimed by this write: given back if its product refuses it. */
  claimed: boolean;
}

/**
 * Group commit (GroupCommit) for the accept path of one API process: the requests that arrive while
 * a batch is being written go together in the next. On a single Redis the whole batch is one
 * `acceptBatch` call (lua/acceptBatch-n.lua) and one `Queue.add` per partition. On Redis Cluster,
 * where a buyer's keys and a product's are in different slots, the same checks and writes are made
 * in steps, each one call per slot it touches (a product group's, a buyer group's), in parallel:
 *  0. the stock read (lua/readStock-n.lua): a request its product refuses claims nothing;
 *  1. the buyers' step (lua/claimBuyers-n.lua): Idempotency-Keys and per-user limits, claimed;
 *  2. the products' step (lua/recordOrders-n.lua): stock checks and order records;
 *  3. one `Queue.add` per partition for the new orders; and for the claims whose product refused
 *     them, the give-back (lua/releaseBuyers-n.lua), so a refused request spends and binds nothing.
 * Each step is one script call on a single Redis; on Redis Cluster one call per slot it touches (a
 * buyer group's for step 1, a product group's for step 2), in parallel. A request without a key or
 * a counter skips step 1. Each request resolves only once its order is recorded and its job added:
 * never a 202 before the enqueue. Every step is idempotent, so a call ioredis re-sends after a lost
 * reply records and binds nothing twice (see the scripts for the one count that can be spent twice).
 */
export class AcceptBatcher {
  private readonly batches: GroupCommit<Waiting>;
  private readonly cluster: boolean;
  private readonly inSteps: boolean;
  /** Jobs added so far and the orders they carried: for the bench and tests. */
  readonly stats = { jobs: 0, orders: 0 };

  constructor(private readonly deps: AcceptBatcherDeps) {
    this.batches = new GroupCommit(deps.maxBatch, (batch) => this.write(batch));
    this.cluster = deps.redis.isCluster;
    this.inSteps = deps.inSteps ?? this.cluster;
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
          // The key names an order the one call could not read (its key was not in the call): ask for it.
          if (followUps === MAX_FOLLOW_UPS) throw new Error(`Idempotency-Key ${entry.idempotency?.key} keeps moving`);
          asked = { ...asked, order: { ...asked.order, orderId: outcome.orderId } };
          break;
        case 'failed':
          throw outcome.error;
        case 'rate_limited':
        case 'reused':
        case 'unknown_product':
        case 'sold_out':
        case 'not_open':
        case 'closed':
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
    const byRequest = groupBy(batch, (waiting) => identity(waiting.entry));
    const entries = [...byRequest.values()].map((same) => same[0]!.entry);
    const outcomes = new Array<Outcome>(entries.length);
    const orders = entries.map((entry) => entry.order);
    try {
      if (this.inSteps) await this.acceptInSteps(entries, outcomes, orders);
      else await this.acceptInOneCall(entries, outcomes);
      await this.replicated(entries, outcomes);
    } catch (error) {
      for (let i = 0; i < entries.length; i++) outcomes[i] ??= { kind: 'failed', error };
    }
    [...byRequest.values()].forEach((same, i) => {
      for (const waiting of same) waiting.resolve({ outcome: outcomes[i]!, orderId: orders[i]!.orderId });
    });
  }

  /**
   * With REDIS_WAIT_REPLICAS, the recorded orders (new, or found by a retry) are answered only once
   * the replicas hold what makes them: each order's record (its product's slot), its buyer's key and
   * count (the buyer's slot) and its job (its partition's slot). A retry's order may have been written
   * by another process whose own WAIT has not returned: the wait covers every write its masters had
   * made by then (unreplicated), so a found order is waited for like a new one. Refusals promise
   * nothing: they are not waited for.
   */
  private async replicated(entries: AcceptEntry[], outcomes: Outcome[]): Promise<void> {
    const { replication, keys, queues } = this.deps;
    if (!replication || replication.replicas === 0) return;
    const writes = new Map<number, string[]>();
    outcomes.forEach((outcome, i) => {
      if (outcome.kind !== 'new' && outcome.kind !== 'existing') return;
      const entry = entries[i]!;
      const { productId } = entry.order;
      const queue = queues.all[partitionOfGroup(keys.group(productId), queues.all.length)]!;
      writes.set(i, [keys.product(productId), queue.qualifiedName, ...claimedKeys(entry)]);
    });
    if (writes.size === 0) return;
    const failed = await unreplicated(this.deps.redis, keys, new Set([...writes.values()].flat()), replication);
    // Recorded, maybe not durably: no 202. The client's retry with its key finds the order (or, if the
    // write was lost with its master, makes it again).
    if (failed.size > 0)
      for (const [i, written] of writes) {
        const error = firstFailure(failed, written);
        if (error !== undefined) outcomes[i] = { kind: 'failed', error };
      }
  }

  /**
   * With REDIS_WAIT_REPLICAS, in steps: the buyers' keys and counts must be on the replicas before any
   * order is recorded for them. A buyer's key and the order it names are in different slots, often on
   * different masters; were the order to outlive its key (the key's master dying first), the request's
   * retry would find no key and record a second order. Claims that are not confirmed record nothing:
   * their requests fail (503), and a retry finds the key, or claims it again.
   */
  private async claimsReplicated(
    entries: AcceptEntry[],
    toRecord: ToRecord[],
    outcomes: Outcome[],
  ): Promise<ToRecord[]> {
    const { replication } = this.deps;
    if (!replication || replication.replicas === 0) return toRecord;
    const written = toRecord.flatMap((item) => claimedKeys(entries[item.index]!));
    if (written.length === 0) return toRecord;
    const failed = await unreplicated(this.deps.redis, this.deps.keys, written, replication);
    if (failed.size === 0) return toRecord;
    return toRecord.filter((item) => {
      const error = firstFailure(failed, claimedKeys(entries[item.index]!));
      if (error !== undefined) outcomes[item.index] = { kind: 'failed', error };
      return error === undefined;
    });
  }

  /** The cluster's way: each step one call per slot; `orders` gets the order each entry ends with. */
  private async acceptInSteps(entries: AcceptEntry[], outcomes: Outcome[], orders: OrderJob[]): Promise<void> {
    const refusals = await this.checkProducts(entries);
    const passing = entries.flatMap((_, i) => (refusals.has(i) ? [] : [i]));
    const [claimed, retries] = await Promise.all([
      this.claimBuyers(entries, passing, outcomes),
      this.retriesOfRefused(entries, refusals, outcomes),
    ]);
    const toRecord = await this.claimsReplicated(entries, [...claimed, ...retries], outcomes);
    for (const item of toRecord) orders[item.index] = item.order;
    await this.recordOrders(toRecord, outcomes);
    await this.releaseRefused(entries, toRecord, outcomes);
  }

  /**
   * A single Redis's way: the whole batch in one acceptBatch call per partition (each names its job),
   * then the jobs. A key bound to an order of another request (a retry) is answered 'bound', and
   * `record` asks again under the order id it names.
   */
  private async acceptInOneCall(entries: AcceptEntry[], outcomes: Outcome[]): Promise<void> {
    const { redis, keys, perUser, idempotencyTtlS } = this.deps;
    const items: ToRecord[] = entries.map((entry, index) => ({ index, order: entry.order, claimed: false }));
    const { byPartition, jobIds, partitionOf } = this.partitioned(items);
    await Promise.all(
      this.bySlot(items, () => 0, partitionOf).map(async (group) => {
        const jobId = jobIds.get(partitionOf(group[0]!))!;
        const sections = sectionOrder(group);
        const args = productArgs(keys, sections, jobId, (item) => entries[item.index]!, [
          Math.max(1, perUser.limit),
          perUser.windowMs,
          idempotencyTtlS,
        ]);
        const reply = decodeAcceptBatch(await redis.acceptBatch(args), group.length);
        if (reply.kind === 'invalid_arguments') throw invalid('acceptBatch', group.length);
        sections.forEach((item, at) => (outcomes[item.index] = reply.items[at]!));
      }),
    );
    await this.enqueueRecorded(byPartition, jobIds, items, outcomes);
  }

  /**
   * Before anything is written: the entries whose product does not exist, is outside its sale window
   * or has fewer units left than they ask, with that refusal. They claim nothing (retriesOfRefused), so requests that are
   * refused never hold a unit of a buyer's limit, not even while a batch is written; the products'
   * step checks again, for the stock that runs out meanwhile.
   */
  private async checkProducts(entries: AcceptEntry[]): Promise<Map<number, Outcome>> {
    const { redis, keys } = this.deps;
    const productIds = [...new Set(entries.map((entry) => entry.order.productId))];
    const stock = new Map<string, StockRead>();
    await Promise.all(
      this.bySlot(productIds, (productId) => keys.group(productId)).map(async (ids) => {
        const found = decodeReadStock(await redis.readStock([ids.length, ...ids.map(keys.product)]), ids.length);
        ids.forEach((productId, i) => stock.set(productId, found[i]!));
      }),
    );
    const refusals = new Map<number, Outcome>();
    entries.forEach(({ order }, index) => {
      const read = stock.get(order.productId);
      if (read?.stock === undefined) refusals.set(index, UNKNOWN_PRODUCT);
      else if (read.window) refusals.set(index, read.window);
      else if (read.stock < order.quantity) refusals.set(index, SOLD_OUT);
    });
    return refusals;
  }

  /**
   * The entries the products refused: only a retry can still get an order (its key bound to one of
   * the same body), so their keys are read, nothing claimed; the others keep their refusal.
   */
  private async retriesOfRefused(
    entries: AcceptEntry[],
    refusals: Map<number, Outcome>,
    outcomes: Outcome[],
  ): Promise<ToRecord[]> {
    const keyed: number[] = [];
    for (const [index, refusal] of refusals) {
      if (entries[index]!.idempotency) keyed.push(index);
      else outcomes[index] = refusal;
    }
    const { keys } = this.deps;
    const toRecord: ToRecord[] = [];
    await Promise.all(
      this.bySlot(keyed, (i) => keys.group(entries[i]!.order.userId)).map(async (indexes) => {
        const values = await this.deps.redis.mget(indexes.map((i) => entries[i]!.idempotency!.key));
        indexes.forEach((index, at) => {
          const value = values[at];
          const entry = entries[index]!;
          const bound = value ? parseBinding(value) : undefined;
          if (!bound) outcomes[index] = refusals.get(index)!;
          else if (bound.fingerprint !== entry.idempotency!.fingerprint) outcomes[index] = REUSED;
          else toRecord.push({ index, order: { ...entry.order, orderId: bound.orderId }, claimed: false });
        });
      }),
    );
    return toRecord;
  }

  /**
   * Step 1, for the entries with a key or a counter: what passes goes on to step 2 (claimed now, or
   * bound to an order of the same body: that order's id); a refusal is its entry's outcome.
   */
  private async claimBuyers(entries: AcceptEntry[], indexes: number[], outcomes: Outcome[]): Promise<ToRecord[]> {
    const { redis, keys, perUser, idempotencyTtlS } = this.deps;
    const toRecord: ToRecord[] = [];
    const claims: number[] = [];
    for (const index of indexes) {
      const entry = entries[index]!;
      if (entry.idempotency || entry.counter) claims.push(index);
      else toRecord.push({ index, order: entry.order, claimed: false });
    }
    const calls = this.bySlot(claims, (i) => keys.group(entries[i]!.order.userId));
    await Promise.all(
      calls.map(async (indexes) => {
        const reply = decodeClaimBuyers(
          await redis.claimBuyers(
            buyerArgs(
              indexes.map((i) => entries[i]!),
              [Math.max(1, perUser.limit), perUser.windowMs, idempotencyTtlS],
            ),
          ),
          indexes.length,
        );
        if (reply.kind === 'invalid_arguments') throw invalid('claimBuyers', indexes.length);
        indexes.forEach((index, at) => {
          const claim = reply.items[at]!;
          const { order } = entries[index]!;
          switch (claim.kind) {
            case 'claimed':
              toRecord.push({ index, order, claimed: true });
              return;
            case 'bound':
              // A retry: its order is the one its key names (this request's own, after a re-sent call).
              toRecord.push({
                index,
                order: { ...order, orderId: claim.orderId },
                claimed: claim.orderId === order.orderId,
              });
              return;
            case 'reused':
            case 'rate_limited':
              outcomes[index] = claim;
              return;
          }
        });
      }),
    );
    return toRecord;
  }

  /**
   * Step 2, then the jobs: one script call per product group on a cluster (per partition on a single
   * Redis), each naming its partition's job; one `Queue.add` per partition for the orders recorded now.
   * An order already queued (a retry) may have lost its job: it is enqueued again alone, under its own
   * id, which BullMQ ignores when that job exists. The commit decides it once.
   */
  private async recordOrders(toRecord: ToRecord[], outcomes: Outcome[]): Promise<void> {
    const { redis, keys } = this.deps;
    const { byPartition, jobIds, partitionOf } = this.partitioned(toRecord);
    // On a single Redis one call per partition: each call names one job.
    const calls = this.bySlot(toRecord, (item) => keys.group(item.order.productId), partitionOf);
    await Promise.all(
      calls.map(async (items) => {
        const jobId = jobIds.get(partitionOf(items[0]!))!;
        const sections = sectionOrder(items);
        const reply = decodeRecordOrders(await redis.recordOrders(productArgs(keys, sections, jobId)), items.length);
        if (reply.kind === 'invalid_arguments') throw invalid('recordOrders', items.length);
        sections.forEach((item, at) => (outcomes[item.index] = reply.items[at]!));
      }),
    );
    await this.enqueueRecorded(byPartition, jobIds, toRecord, outcomes);
  }

  /** The items by partition, and the job each partition's new orders go in (a lone order's own id). */
  private partitioned(items: ToRecord[]) {
    const { keys, queues } = this.deps;
    const partitionOf = (item: ToRecord) => partitionOfGroup(keys.group(item.order.productId), queues.all.length);
    const byPartition = groupBy(items, partitionOf);
    const jobIds = new Map(
      [...byPartition].map(([partition, inPartition]) => [
        partition,
        inPartition.length === 1 ? inPartition[0]!.order.orderId : newBatchId(),
      ]),
    );
    return { byPartition, jobIds, partitionOf };
  }

  /**
   * One `Queue.add` per partition for the orders recorded now. An order already queued (a retry) may
   * have lost its job: it is enqueued again alone, under its own id, which BullMQ ignores when that job
   * exists. The commit decides it once.
   */
  private async enqueueRecorded(
    byPartition: Map<number, ToRecord[]>,
    jobIds: Map<number, string>,
    toRecord: ToRecord[],
    outcomes: Outcome[],
  ): Promise<void> {
    const enqueues: { partition: number; jobId: string; orders: OrderJob[] }[] = [];
    for (const [partition, items] of byPartition) {
      const fresh = items.filter((item) => outcomes[item.index]!.kind === 'new').map((item) => item.order);
      if (fresh.length > 0) enqueues.push({ partition, jobId: jobIds.get(partition)!, orders: fresh });
      for (const item of items) {
        const outcome = outcomes[item.index]!;
        if (outcome.kind === 'existing' && outcome.status === 'queued')
          enqueues.push({ partition, jobId: item.order.orderId, orders: [item.order] });
      }
    }
    await Promise.all(
      enqueues.map(async (job) => {
        try {
          await this.enqueue(job.partition, job.jobId, job.orders);
        } catch (error) {
          // Recorded but not enqueued: no 202. A retry with the same Idempotency-Key enqueues it,
          // and the reconciler re-drives whatever nobody retries.
          const ids = new Set(job.orders.map((order) => order.orderId));
          for (const item of toRecord)
            if (ids.has(item.order.orderId)) outcomes[item.index] = { kind: 'failed', error };
        }
      }),
    );
  }

  /** Step 3 for the claims whose product refused them: their keys unbound, their counts given back. */
  private async releaseRefused(entries: AcceptEntry[], toRecord: ToRecord[], outcomes: Outcome[]): Promise<void> {
    const { redis, keys } = this.deps;
    const refused = toRecord
      .filter((item) => item.claimed && PRODUCT_REFUSALS.has(outcomes[item.index]!.kind))
      .map((item) => item.index);
    const calls = this.bySlot(refused, (i) => keys.group(entries[i]!.order.userId));
    await Promise.all(
      calls.map(async (indexes) => {
        const reply = decodeReleaseBuyers(
          await redis.releaseBuyers(
            buyerArgs(
              indexes.map((i) => entries[i]!),
              [],
            ),
          ),
        );
        if (reply.kind === 'invalid_arguments') throw invalid('releaseBuyers', indexes.length);
      }),
    ).catch(() => {
      // The refusal stands; what could not be given back lapses with the window and the key's time
      // to live (a retry with the key would record the order, if units came back meanwhile).
    });
  }

  /**
   * The items in groups that one script call may take: by `slotOf` (the group of their hash tag) on a
   * cluster; on a single Redis by `callOf`, all together unless the caller needs several calls.
   */
  private bySlot<T>(items: T[], slotOf: (item: T) => number, callOf: (item: T) => number = () => 0): T[][] {
    if (items.length === 0) return [];
    return [...groupBy(items, this.cluster ? slotOf : callOf).values()];
  }

  private async enqueue(partition: number, jobId: string, orders: OrderJob[]): Promise<void> {
    // A lone order keeps the plain shape under its own id; a repeated add of an existing id is a no-op.
    const lone = orders.length === 1 && orders[0]!.orderId === jobId;
    await this.deps.queues.all[partition]!.add(lone ? 'order' : 'orders', lone ? orders[0]! : { orders }, { jobId });
    this.stats.jobs += 1;
    this.stats.orders += orders.length;
  }
}

/** The buyer's keys an entry claims in the buyers' step: its Idempotency-Key and its counter. */
function claimedKeys({ idempotency, counter }: AcceptEntry): string[] {
  return [...(idempotency ? [idempotency.key] : []), ...(counter ? [counter] : [])];
}

/** Why the first of `written` that its master did not confirm is not (undefined: all confirmed). */
function firstFailure(failed: Map<string, unknown>, written: string[]): unknown {
  for (const key of written) if (failed.has(key)) return failed.get(key);
  return undefined;
}

/** What the products' step refuses a claimed request for: its claim is given back. */
const PRODUCT_REFUSALS = new Set<Outcome['kind']>(['unknown_product', 'sold_out', 'not_open', 'closed']);

const UNKNOWN_PRODUCT: Outcome = Object.freeze({ kind: 'unknown_product' });
const SOLD_OUT: Outcome = Object.freeze({ kind: 'sold_out' });
const REUSED: Outcome = Object.freeze({ kind: 'reused' });

const invalid = (script: string, count: number) =>
  // The API validates every order before it gets here: a refusal is a bug, answered 500.
  new Error(`${script} refused the arguments of ${count} requests`);

/** The buyers' steps' call: numkeys, each entry's key and counter, `settings`, then 3 arguments per entry. */
function buyerArgs(entries: AcceptEntry[], settings: (string | number)[]): (string | number)[] {
  const keyList: string[] = [];
  const args: (string | number)[] = [...settings];
  for (const { order, idempotency, counter } of entries) {
    if (idempotency) keyList.push(idempotency.key);
    if (counter) keyList.push(counter);
    args.push(order.orderId, idempotency?.fingerprint ?? '-', (idempotency ? 1 : 0) + (counter ? 2 : 0));
  }
  return [keyList.length, ...keyList, ...args];
}

/** The items as the products' step takes them: in sections by product, in arrival order within each. */
function sectionOrder(items: ToRecord[]): ToRecord[] {
  return [...groupBy(items, (item) => item.order.productId).values()].flat();
}

/**
 * A products' call, its items in sections by product: recordOrders-n.lua's layout; with `entryOf` and
 * the buyer settings, acceptBatch-n.lua's (each order also with its key and counter, and its mode).
 */
function productArgs(
  keys: Keys,
  items: ToRecord[],
  jobId: string,
  entryOf?: (item: ToRecord) => AcceptEntry,
  buyerSettings: (string | number)[] = [],
): (string | number)[] {
  const sections = groupBy(items, (item) => item.order.productId);
  const keyList: string[] = [];
  const args: (string | number)[] = [Date.now(), jobId, ...buyerSettings, sections.size];
  for (const [productId, section] of sections) {
    keyList.push(keys.product(productId), keys.pending(productId));
    args.push(productId, section.length);
    for (const item of section) {
      const { order } = item;
      keyList.push(keys.order(productId, order.orderId));
      args.push(order.orderId, order.userId, order.quantity);
      if (!entryOf) continue;
      const { idempotency, counter } = entryOf(item);
      if (idempotency) keyList.push(idempotency.key);
      if (counter) keyList.push(counter);
      args.push((idempotency ? 1 : 0) + (counter ? 2 : 0), idempotency?.fingerprint ?? '-');
    }
  }
  return [keyList.length, ...keyList, ...args];
}

/** Two entries are the same request when they carry the same key and body, or (without a key) the same order. */
function identity(entry: AcceptEntry): string {
  const { idempotency } = entry;
  if (!idempotency) return `o ${entry.order.orderId}`;
  return `k ${idempotency.key} ${idempotency.fingerprint}`;
}
