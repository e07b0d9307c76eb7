import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import { finishedJobAges, type OrderJob, type OrdersQueues } from '../queue/ordersQueue.ts';
import { decodeExtendLock } from '../redis/replies.ts';
import { listProducts } from '../products/products.ts';
import { publishDecided } from './decisions.ts';
import { failOrders } from './failOrders.ts';
import { expireHolds, type HoldRules } from './holds.ts';
import { unservedPartitions, type UnservedPartition } from '../queue/partitionServing.ts';

export interface ReconcileDeps {
  redis: RedisClient;
  keys: Keys;
  /** Every partition: an order's jobs are in its product's. */
  queues: OrdersQueues;
  /** An order still queued this long after acceptance is looked at. */
  afterMs: number;
  /** How long an order ended processing_failed is kept. */
  orderRetentionMs: number;
  /** The sweep of holds past their deadline, the backstop of the expiry timers; none when not given. */
  holds?: HoldRules;
  /** Every queue of each partition (orders, holds, webhooks): a pass reports those with work and no worker. */
  partitions?: readonly (readonly Queue[])[];
  /**
   * Queues of partitions above QUEUE_PARTITIONS that keep finished jobs (findRetiredPartitions): no one
   * else removes them, and they name buyers, so they are cleaned at the same ages as the served ones.
   */
  retired?: readonly Queue[];
}

export interface ReconcileReport {
  /** Overdue orders looked at. */
  checked: number;
  /** Orders whose job was lost: enqueued again under the same id. */
  redriven: number;
  /** Orders whose job is over (failed) but that were never decided: ended processing_failed. */
  failed: number;
  /** Finished jobs removed because they outlived the orders they name. */
  removedJobs: number;
  /** Units of holds past their deadline by more than HOLD_SWEEP_GRACE_MS that the sweep gave back (their timer was late or lost). */
  expiredUnits: number;
  /**
   * Partitions with unfinished jobs that no live worker announces (WORKER_PARTITIONS leaves them out): their
   * orders stay `queued` until a worker serves them. A re-drive cannot help, so the pass only reports them.
   */
  unserved: UnservedPartition[];
  /** When the pass began (ms since the epoch) and how long it took. */
  startedAt: number;
  durationMs: number;
  /** The pass stopped early: another process holds the reconciler lease now. */
  leaseLost: boolean;
}

// A job in one of these states will still run: its order will be decided without help. An active
// job of a dead worker is BullMQ's to recover (it stalls and returns to wait).
const alive = new Set(['waiting', 'wait', 'active', 'delayed', 'prioritized', 'waiting-children']);
/** Oldest overdue orders looked at per product and pass: the pass's work stays bounded under any backlog. */
const ORDERS_PER_PRODUCT = 500;
/** Products looked at together: their reads go out at once, so a pass costs a few round trips per group of products. */
const PRODUCTS_AT_ONCE = 32;
/** A hold this long past its deadline is its timer's no more: the sweep ends it. */
const HOLD_SWEEP_GRACE_MS = 1000;
/** Finished jobs removed per pass and kind. */
const JOBS_REMOVED_PER_PASS = 1000;

interface QueuedOrder extends OrderJob {
  orderKey: string;
  batchId: string | null;
}

/**
 * Closes the gap between "accepted" and "decided": every order still queued `afterMs` after it was
 * accepted gets a job again if its job was lost (a crash between recording and enqueuing, a job
 * lost with Redis' last second of AOF), and is ended processing_failed if its job failed without
 * deciding it (stalled past the limit, or the worker died before marking it). Either path goes
 * through the idempotent commit or failOrder, so running it twice, or beside a worker, is safe.
 *
 * A pass reads in waves (every overdue order of a group of products at once, then every batch
 * job's state at once, ...), never one order after another: its round trips depend on the number
 * of products, not on the backlog. `stillHeld` is asked before each group; when it says no,
 * another process reconciles now and this pass stops.
 */
export async function reconcileOnce(
  deps: ReconcileDeps,
  now = Date.now(),
  stillHeld: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<ReconcileReport> {
  const { redis, keys } = deps;
  const report: ReconcileReport = {
    checked: 0,
    redriven: 0,
    failed: 0,
    removedJobs: 0,
    expiredUnits: 0,
    unserved: [],
    startedAt: Date.now(),
    durationMs: 0,
    leaseLost: false,
  };
  if (deps.partitions) report.unserved = await unservedPartitions(redis, keys, deps.partitions);
  const products = await listProducts(redis, keys);
  for (let i = 0; i < products.length && !report.leaseLost; i += PRODUCTS_AT_ONCE) {
    if (i > 0 && !(await stillHeld())) report.leaseLost = true;
    else await reconcileProducts(deps, products.slice(i, i + PRODUCTS_AT_ONCE), now, report);
  }
  if (!report.leaseLost) report.removedJobs = await removeJobsPastRetention(deps);
  report.durationMs = Date.now() - report.startedAt;
  return report;
}

async function reconcileProducts(
  deps: ReconcileDeps,
  productIds: readonly string[],
  now: number,
  report: ReconcileReport,
): Promise<void> {
  const { redis, keys, queues } = deps;
  if (deps.holds) await sweepHolds(deps, deps.holds, productIds, now, report);
  const queueOf = (order: { productId: string }) => queues.ofGroup(keys.group(order.productId));
  const overdue = await Promise.all(
    productIds.map((productId) =>
      redis.zrangebyscore(keys.pending(productId), '-inf', now - deps.afterMs, 'LIMIT', 0, ORDERS_PER_PRODUCT),
    ),
  );
  const entries = productIds.flatMap((productId, i) => overdue[i]!.map((orderKey) => ({ productId, orderKey })));
  if (entries.length === 0) return;
  report.checked += entries.length;

  const records = await Promise.all(
    entries.map(({ orderKey }) => redis.hmget(orderKey, 'status', 'userId', 'quantity', 'job')),
  );
  const settled: typeof entries = [];
  const queued: QueuedOrder[] = [];
  entries.forEach(({ productId, orderKey }, i) => {
    const [status, userId, quantity, batchId] = records[i]!;
    if (status !== 'queued' || !userId || !quantity)
      settled.push({ productId, orderKey }); // decided, or expired
    else
      queued.push({
        orderKey,
        orderId: keys.orderIdOf(orderKey),
        productId,
        userId,
        quantity: Number(quantity),
        batchId: batchId ?? null,
      });
  });

  // The orders of one batch share its job (in their partition): its state is read once, not once an order.
  const batches = new Map(queued.flatMap((order) => (order.batchId ? [[order.batchId, order] as const] : [])));
  const batchIds = [...batches.keys()];
  const [, batchStates] = await Promise.all([
    Promise.all(settled.map(({ productId, orderKey }) => redis.zrem(keys.pending(productId), orderKey))),
    Promise.all([...batches].map(([batchId, order]) => queueOf(order).getJobState(batchId))),
  ]);
  const batchState = new Map(batchIds.map((batchId, i) => [batchId, batchStates[i]!]));
  const stateOfBatch = (order: QueuedOrder) => (order.batchId ? batchState.get(order.batchId) : undefined) ?? 'unknown';

  // Behind a live batch job an order waits; the others: their own job (a lone order, or a re-drive).
  const unwatched = queued.filter((order) => !alive.has(stateOfBatch(order)));
  const ownStates = await Promise.all(unwatched.map((order) => queueOf(order).getJobState(order.orderId)));
  const toFail: QueuedOrder[] = [];
  const toRedrive: { order: QueuedOrder; staleJob: boolean }[] = [];
  unwatched.forEach((order, i) => {
    const own = ownStates[i]!;
    if (alive.has(own)) return;
    if (own === 'failed' || (own === 'unknown' && stateOfBatch(order) === 'failed')) toFail.push(order);
    // Missing, or finished without a decision: run it again.
    else toRedrive.push({ order, staleJob: own !== 'unknown' });
  });

  // A stale finished job must go first, or BullMQ would take the add for a duplicate and ignore it.
  const [failed] = await Promise.all([
    failOrders(redis, keys, toFail, deps.orderRetentionMs, deps.holds?.events ?? false),
    Promise.all(toRedrive.filter((r) => r.staleJob).map(({ order }) => queueOf(order).remove(order.orderId))),
  ]);
  report.failed += failed;
  // Announced as a worker announces its decisions, so a request waiting on one of them (`?wait=`) answers now,
  // not at the end of its wait. Best effort, as the worker's: the decision is in the order's record.
  await publishDecided(
    redis,
    keys,
    toFail.map((order) => order.orderId),
  ).catch(() => {});
  if (toRedrive.length === 0) return;
  await Promise.all(
    toRedrive.map(({ order: { orderId, productId, userId, quantity } }) =>
      queueOf({ productId }).add('order', { orderId, productId, userId, quantity }, { jobId: orderId }),
    ),
  );
  // From now on the order's own job is the one to watch.
  await Promise.all(toRedrive.flatMap(({ order }) => (order.batchId ? [redis.hdel(order.orderKey, 'job')] : [])));
  report.redriven += toRedrive.length;
}

/** Ends the holds that their timers should have ended by now (a timer lost with Redis's last writes, workers down). */
async function sweepHolds(
  { redis, keys }: ReconcileDeps,
  rules: HoldRules,
  productIds: readonly string[],
  now: number,
  report: ReconcileReport,
): Promise<void> {
  const dueAt = await Promise.all(productIds.map((productId) => redis.hget(keys.product(productId), 'holdsDueAt')));
  const late = productIds.filter((_, i) => dueAt[i] != null && Number(dueAt[i]) <= now - HOLD_SWEEP_GRACE_MS);
  const released = await Promise.all(late.map((productId) => expireHolds(redis, keys, productId, rules)));
  report.expiredUnits += released.reduce((sum, { units }) => sum + units, 0);
}

/**
 * A finished job names its orders' buyers, and an operator's retry of it must find its orders: it
 * is kept no longer than they are (orderJobOptions). BullMQ applies those ages only when another
 * job finishes, so on a quiet queue old jobs would stay; each pass removes a bounded number.
 */
async function removeJobsPastRetention(deps: ReconcileDeps): Promise<number> {
  const { failed, completed } = finishedJobAges(deps.orderRetentionMs);
  const removed = await Promise.all(
    [...deps.queues.all, ...(deps.retired ?? [])].flatMap((queue) => [
      queue.clean(failed * 1000, JOBS_REMOVED_PER_PASS, 'failed'),
      queue.clean(completed * 1000, JOBS_REMOVED_PER_PASS, 'completed'),
    ]),
  );
  return removed.reduce((sum, jobs) => sum + jobs.length, 0);
}

/**
 * Runs `reconcileOnce` every `intervalMs` in whichever process holds the reconciler lease, so a
 * pool of workers reconciles once per interval, not once per process. The pass extends the lease
 * before each group of products and stops when it lost it, so passes seldom overlap. A lease cannot
 * promise they never do: a process paused past its lease (GC, a stopped VM) resumes mid-group beside
 * the next holder. Overlapping passes are safe instead: every change goes through an idempotent step
 * (failOrder and the hold scripts end an order once, a re-drive's job id is the order's, the commit
 * decides once), so two passes at once cost reads, never a second change. Returns a stop function.
 */
export function startReconciler(
  deps: ReconcileDeps & { intervalMs: number },
  onReport: (report: ReconcileReport) => void,
  onError: (error: unknown) => void,
): () => void {
  const token = randomBytes(8).toString('hex');
  const lease = deps.keys.reconciler();
  const renew = async () =>
    decodeExtendLock(await deps.redis.extendLock([lease, token, deps.intervalMs])).kind === 'extended';
  const pass = async () => {
    let held = true;
    // The lease lives one interval; renewed while the pass runs, a pass longer than that keeps it.
    // Once a renewal fails, another process may hold it: the pass stops before its next group.
    const watchdog = setInterval(() => {
      renew().then(
        (ok) => (held &&= ok),
        () => (held = false),
      );
    }, deps.intervalMs / 3);
    try {
      onReport(await reconcileOnce(deps, Date.now(), async () => held && (await renew())));
    } finally {
      clearInterval(watchdog);
    }
  };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    deps.redis
      .set(lease, token, 'PX', deps.intervalMs, 'NX')
      .then((won) => (won ? pass() : undefined))
      .catch(onError)
      .finally(() => (running = false));
  }, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
