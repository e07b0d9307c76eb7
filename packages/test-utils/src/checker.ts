import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisClient, createKeys, hashTagOf, type OrderJob } from '@flashline/core';
import { mapConcurrent, requestJson, type JsonReply } from './http.ts';
import { percentile } from './burst.ts';
import { scanKeys } from './scanKeys.ts';
import type { ShopOutcome } from './shop.ts';
import { SYSTEM_ADMIN_TOKEN, partitionKey, type BaseSystem } from './system.ts';

/**
 * The checker: runs a burst through the real API, records every request's outcome, and after the
 * faults are healed and the queue drained, reads every order and product from Redis and reports
 * what went wrong. A correct build reports zero for the first six figures under any fault.
 *
 * Each request has its own user id and Idempotency-Key, so an order maps back to exactly one
 * request. An unknown outcome (timeout, 5xx) is retried with the same key, as a careful client
 * would; after the last try it stays unknown (its order may or may not exist).
 */

export interface ProductPlan {
  productId: string;
  stock: number;
  /** Won orders are held this long for payment (`reserved`) before they expire. */
  holdSeconds?: number;
}

export interface Outcome {
  userId: string;
  productId: string;
  quantity: number;
  /** 202, a 4xx, or 0 when the outcome stayed unknown (timeouts, 5xx) after every try. */
  status: number;
  code?: string;
  orderId?: string;
  tries: number;
}

export interface CheckReport {
  requests: number;
  accepted: number;
  refused: Record<string, number>;
  unknown: number;
  /** Requests that needed more than one try (a 5xx or a timeout first): how many the fault reached. */
  retried: number;
  oversold: number;
  conservation_errors: number;
  lost: number;
  stuck: number;
  duplicates: number;
  unexpected: number;
  /** Holds still `reserved` more than HOLD_GRACE_MS after their deadline: their units counted neither free nor sold. */
  stale_holds: number;
  /** The shop's answers the orders contradict: a 200 confirm of an order not confirmed, a 200 cancel of one not cancelled or expired, a 409 that does not match. */
  shop_mismatches: number;
  /** How long after its deadline each expired hold ended (expiredAt − holdExpiresAt), in ms. */
  hold_release_lag_ms?: { p50: number; p99: number; max: number };
  /** The shop's actions by answer (`200 confirmed`, `409 hold_expired`, ...). */
  shop?: Record<string, number>;
  time_to_terminal_ms: { p50: number; p99: number; max: number };
  decided: Record<string, number>;
  drained_in_ms: number;
  /**
   * With `watch`: the longest time, from the fault on, in which no order of the watched products was
   * decided: how long the fault stopped their sale (their orders keep coming, so decisions, sold out or
   * not, would show every few milliseconds in a healthy system).
   */
  decisions_paused_ms?: number;
}

export async function setUpProducts(apiUrl: string, products: ProductPlan[]): Promise<void> {
  for (const { productId, stock, holdSeconds } of products) {
    const reply = await requestJson(`${apiUrl}/products/${productId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` },
      body: { stock, ...(holdSeconds ? { holdSeconds } : {}) },
    });
    if (reply.status !== 200) throw new Error(`could not set up ${productId}: ${reply.status}`);
  }
}

/** `count` orders over `products`, quantity 1–3, from a seeded generator; one user per order. */
export function planOrders(
  products: ProductPlan[],
  count: number,
  seed: number,
): { userId: string; productId: string; quantity: number }[] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return Array.from({ length: count }, (_, i) => ({
    userId: `u${seed}-${i}`,
    productId: products[Math.floor(next() * products.length)]!.productId,
    quantity: 1 + Math.floor(next() * 3),
  }));
}

export async function submitBurst(
  apiUrl: string,
  orders: { userId: string; productId: string; quantity: number }[],
  options: { concurrency: number; tries?: number; timeoutMs?: number; onOutcome?: (outcome: Outcome) => void },
): Promise<Outcome[]> {
  const tries = options.tries ?? 5;
  const told = (outcome: Outcome) => {
    options.onOutcome?.(outcome);
    return outcome;
  };
  return mapConcurrent(orders, options.concurrency, async (order) => {
    let last: Pick<JsonReply, 'status' | 'body'> = { status: 0, body: undefined as unknown as JsonReply['body'] };
    for (let attempt = 1; attempt <= tries; attempt++) {
      last = await requestJson(`${apiUrl}/orders`, {
        method: 'POST',
        body: order,
        headers: { 'idempotency-key': `key-${order.userId}` },
        timeoutMs: options.timeoutMs ?? 5000,
      });
      const unknown = last.status === 0 || last.status >= 500;
      if (!unknown) {
        return told({
          ...order,
          status: last.status,
          tries: attempt,
          ...(last.status === 202 ? { orderId: last.body.orderId } : { code: last.body?.error?.code }),
        });
      }
      await sleep(100 * attempt);
    }
    return told({ ...order, status: 0, tries, ...(last.body?.error?.code ? { code: last.body.error.code } : {}) });
  });
}

/** An order hash as stored: its times in epoch milliseconds. */
interface StoredOrder extends OrderJob {
  status: string;
  reason?: string;
  createdAt: number;
  decidedAt?: number;
  holdExpiresAt?: number;
  expiredAt?: number;
}

interface Snapshot {
  orders: StoredOrder[];
  products: Map<string, { product: Record<string, string>; buyers: Record<string, string> }>;
  /** Redis's clock at the snapshot (epoch ms): the one the hold deadlines are on. */
  now: number;
}

/** Holds may end this long after their deadline (the timers' slot and a busy worker) before they count as stale. */
const HOLD_GRACE_MS = 2000;
/** The statuses an accepted order may end in, or wait in (reserved, with a deadline ahead). */
const SETTLED = new Set(['confirmed', 'rejected', 'reserved', 'cancelled', 'expired']);

/**
 * Every order, product and buyer ledger, read in one MULTI per hash tag (on a single Redis, one MULTI
 * in all), so that a product's figures agree with its orders' even when workers are still deciding (a
 * drain that timed out): a product's orders and counters share its group's tag. The API makes no new
 * orders by then: the burst is over, so the key list from SCAN is complete.
 */
async function snapshot(redis: RedisClient, prefix: string, productIds: string[]): Promise<Snapshot> {
  const k = createKeys(prefix);
  const orderKeys = await scanKeys(redis, k.everyOrder());
  const reads = [...orderKeys, ...productIds.flatMap((id) => [k.product(id), k.buyers(id)])];
  const byTag = new Map<string, number[]>();
  reads.forEach((key, i) => {
    const tag = redis.isCluster ? hashTagOf(key) : '';
    byTag.set(tag, [...(byTag.get(tag) ?? []), i]);
  });
  const rows = new Array<Record<string, string>>(reads.length);
  await Promise.all(
    [...byTag.values()].map(async (indexes) => {
      const multi = redis.multi();
      for (const i of indexes) multi.hgetall(reads[i]!);
      const replies = (await multi.exec()) ?? [];
      indexes.forEach((i, at) => {
        const [error, value] = replies[at] ?? [new Error('no reply')];
        if (error) throw error;
        rows[i] = value as Record<string, string>;
      });
    }),
  );
  const orders = orderKeys.map((key, i) => {
    const f = rows[i]!;
    return {
      orderId: k.orderIdOf(key),
      productId: f.productId!,
      userId: f.userId!,
      quantity: Number(f.quantity),
      status: f.status!,
      ...(f.reason ? { reason: f.reason } : {}),
      createdAt: Number(f.createdAt),
      ...(f.decidedAt ? { decidedAt: Number(f.decidedAt) } : {}),
      ...(f.holdExpiresAt ? { holdExpiresAt: Number(f.holdExpiresAt) } : {}),
      ...(f.expiredAt ? { expiredAt: Number(f.expiredAt) } : {}),
    };
  });
  const at = orderKeys.length;
  const products = new Map(
    productIds.map((id, i) => [id, { product: rows[at + 2 * i]!, buyers: rows[at + 2 * i + 1]! }]),
  );
  const [seconds, micros] = await redis.time();
  return { orders, products, now: Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) };
}

/** Waits until the queue is empty and no order is queued (or the timeout), then checks everything. */
export async function check(
  system: BaseSystem,
  products: ProductPlan[],
  outcomes: Outcome[],
  options: { timeoutMs?: number; watch?: { productIds: string[]; from: number }; shop?: ShopOutcome[] } = {},
): Promise<CheckReport> {
  const redis = system.client;
  const partitions = Array.from({ length: system.config.queuePartitions }, (_, p) => p);
  const queueCount = (name: string, count: (key: string) => Promise<number>) =>
    Promise.all(partitions.map((p) => count(partitionKey(system.config, p, name)))).then((n) =>
      n.reduce((a, b) => a + b, 0),
    );
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 60_000);
  // Drained: nothing queued. Or nothing left to run (no job waiting or delayed) and the number of
  // undecided orders has not moved for 3 s: what is still undecided then stays so (a broken build).
  let lastQueued = -1;
  let stableSince = Date.now();
  const pendingKeys = products.map((p) => createKeys(system.prefix).pending(p.productId));
  for (;;) {
    const [queued, [waiting, active, delayed, prioritized]] = await Promise.all([
      // Undecided orders are exactly the entries of the products' pending sets: no need to read every order.
      Promise.all(pendingKeys.map((key) => redis.zcard(key))).then((counts) => counts.reduce((a, b) => a + b, 0)),
      Promise.all([
        queueCount('wait', (key) => redis.llen(key)),
        queueCount('active', (key) => redis.llen(key)),
        queueCount('delayed', (key) => redis.zcard(key)),
        queueCount('prioritized', (key) => redis.zcard(key)),
      ]),
    ]);
    if (queued !== lastQueued) [lastQueued, stableSince] = [queued, Date.now()];
    const idle = waiting === 0 && delayed === 0 && prioritized === 0;
    if ((queued === 0 && idle && active === 0) || (idle && Date.now() - stableSince > 3000) || Date.now() > deadline)
      break;
    await sleep(250);
  }
  const drainedInMs = Date.now() - started;

  const {
    orders,
    products: stored,
    now,
  } = await snapshot(
    redis,
    system.prefix,
    products.map((p) => p.productId),
  );
  const byUser = new Map<string, StoredOrder[]>();
  for (const order of orders) byUser.set(order.userId, [...(byUser.get(order.userId) ?? []), order]);
  const requestByUser = new Map(outcomes.map((o) => [o.userId, o]));

  let lost = 0;
  let duplicates = 0;
  let unexpected = 0;
  for (const outcome of outcomes) {
    const mine = byUser.get(outcome.userId) ?? [];
    if (mine.length > 1) duplicates += mine.length - 1;
    if (outcome.status === 202) {
      const order = mine.find((o) => o.orderId === outcome.orderId);
      if (!order || !SETTLED.has(order.status)) lost += 1;
    } else if (outcome.status !== 0 && mine.length > 0) {
      unexpected += mine.length; // refused with a 4xx, yet an order exists
    }
  }
  for (const order of orders) {
    const request = requestByUser.get(order.userId);
    if (!request || request.productId !== order.productId || request.quantity !== order.quantity) unexpected += 1;
  }

  // Units are free (stock), held (reserved orders) or sold (confirmed orders), never two at once:
  // initial = free + held + sold, and the product's own counters agree with its orders.
  const won = (o: StoredOrder) => o.status === 'confirmed' || o.status === 'reserved';
  let oversold = 0;
  let conservationErrors = 0;
  for (const { productId, stock: initial } of products) {
    const { product, buyers } = stored.get(productId)!;
    const remaining = Number(product.stock);
    const mineOf = (status: string) =>
      orders.filter((o) => o.productId === productId && o.status === status).reduce((sum, o) => sum + o.quantity, 0);
    const confirmed = mineOf('confirmed');
    const held = mineOf('reserved');
    if (remaining < 0 || confirmed + held > initial) oversold += Math.max(confirmed + held - initial, -remaining, 1);
    if (
      initial - remaining !== confirmed + held ||
      Number(product.sold) !== confirmed ||
      Number(product.reserved ?? 0) !== held
    )
      conservationErrors += 1;
    // A unit taken twice for one order shows as a buyer ledger above that buyer's won orders; a unit
    // given back twice (a cancel and an expiry), below.
    const ledger = new Map(Object.entries(buyers).map(([userId, units]) => [userId, Number(units)]));
    for (const order of orders)
      if (order.productId === productId && won(order)) ledger.set(order.userId, ledger.get(order.userId) ?? 0);
    for (const [userId, units] of ledger) {
      const mine = (byUser.get(userId) ?? [])
        .filter((o) => o.productId === productId && won(o))
        .reduce((s, o) => s + o.quantity, 0);
      if (units > mine) duplicates += 1;
      else if (units < mine) conservationErrors += 1;
    }
  }
  const staleHolds = orders.filter(
    (o) => o.status === 'reserved' && (o.holdExpiresAt === undefined || o.holdExpiresAt < now - HOLD_GRACE_MS),
  ).length;
  const lags = orders.flatMap((o) =>
    o.expiredAt !== undefined && o.holdExpiresAt !== undefined ? [o.expiredAt - o.holdExpiresAt] : [],
  );
  const shop = options.shop ? shopCheck(options.shop, new Map(orders.map((o) => [o.orderId, o]))) : undefined;

  const refused: Record<string, number> = {};
  const decided: Record<string, number> = {};
  for (const o of outcomes)
    if (o.status !== 202 && o.status !== 0)
      refused[`${o.status} ${o.code}`] = (refused[`${o.status} ${o.code}`] ?? 0) + 1;
  for (const o of orders) decided[o.reason ?? o.status] = (decided[o.reason ?? o.status] ?? 0) + 1;
  const times = orders.filter((o) => o.decidedAt).map((o) => o.decidedAt! - o.createdAt);
  return {
    requests: outcomes.length,
    accepted: outcomes.filter((o) => o.status === 202).length,
    refused,
    unknown: outcomes.filter((o) => o.status === 0).length,
    retried: outcomes.filter((o) => o.tries > 1).length,
    oversold,
    conservation_errors: conservationErrors,
    lost,
    stuck: orders.filter((o) => o.status === 'queued').length,
    duplicates,
    unexpected,
    stale_holds: staleHolds,
    shop_mismatches: shop?.mismatches ?? 0,
    ...(lags.length > 0
      ? { hold_release_lag_ms: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags) } }
      : {}),
    ...(shop ? { shop: shop.answers } : {}),
    time_to_terminal_ms: {
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times.length ? Math.max(...times) : NaN,
    },
    decided,
    drained_in_ms: drainedInMs,
    ...(options.watch ? { decisions_paused_ms: longestPause(orders, options.watch) } : {}),
  };
}

function longestPause(orders: StoredOrder[], watch: { productIds: string[]; from: number }): number {
  const watched = new Set(watch.productIds);
  const times = orders
    .filter((o) => watched.has(o.productId) && o.decidedAt !== undefined && o.decidedAt >= watch.from)
    .map((o) => o.decidedAt!)
    .sort((a, b) => a - b);
  let longest = 0;
  let last = watch.from;
  for (const time of times) [longest, last] = [Math.max(longest, time - last), time];
  return longest;
}

/**
 * The shop's answers against the orders as they ended: what the API told the shop must be what
 * happened (an order it was told is paid is confirmed, for good).
 */
function shopCheck(
  actions: ShopOutcome[],
  byId: Map<string, StoredOrder>,
): { mismatches: number; answers: Record<string, number> } {
  const answers: Record<string, number> = {};
  let mismatches = 0;
  for (const { orderId, action, status, code, orderStatus } of actions) {
    const answer = `${action} ${status} ${status === 200 ? orderStatus : (code ?? '')}`.trim();
    answers[answer] = (answers[answer] ?? 0) + 1;
    const now = byId.get(orderId)?.status;
    const expected: Record<string, string[]> = {
      '200': action === 'confirm' ? ['confirmed'] : ['cancelled', 'expired'],
      hold_expired: ['expired'],
      order_cancelled: ['cancelled'],
      already_confirmed: ['confirmed'],
      not_reserved: ['rejected'],
    };
    const allowed = status === 200 ? expected['200'] : status === 409 ? expected[code ?? ''] : undefined;
    // A 200 also names the status it answered with: the order must still be in it.
    if (allowed && (!now || !allowed.includes(now) || (status === 200 && orderStatus !== now))) mismatches += 1;
  }
  return { mismatches, answers };
}

/** The figures that must be zero. */
export function violations(report: CheckReport): Partial<CheckReport> {
  const keys = [
    'oversold',
    'conservation_errors',
    'lost',
    'stuck',
    'duplicates',
    'unexpected',
    'stale_holds',
    'shop_mismatches',
  ] as const;
  return Object.fromEntries(keys.filter((k) => report[k] !== 0).map((k) => [k, report[k]]));
}
