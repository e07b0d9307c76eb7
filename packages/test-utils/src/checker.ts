import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisClient, createKeys, type OrderJob } from '@flashline/core';
import { mapConcurrent, requestJson, type JsonReply } from './http.ts';
import { percentile } from './burst.ts';
import { SYSTEM_ADMIN_TOKEN, ordersQueueKey, type System } from './system.ts';

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
  oversold: number;
  conservation_errors: number;
  lost: number;
  stuck: number;
  duplicates: number;
  unexpected: number;
  time_to_terminal_ms: { p50: number; p99: number; max: number };
  decided: Record<string, number>;
  drained_in_ms: number;
}

export async function setUpProducts(apiUrl: string, products: ProductPlan[]): Promise<void> {
  for (const { productId, stock } of products) {
    const reply = await requestJson(`${apiUrl}/products/${productId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` },
      body: { stock },
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
  options: { concurrency: number; tries?: number; timeoutMs?: number },
): Promise<Outcome[]> {
  const tries = options.tries ?? 5;
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
        return {
          ...order,
          status: last.status,
          tries: attempt,
          ...(last.status === 202 ? { orderId: last.body.orderId } : { code: last.body?.error?.code }),
        };
      }
      await sleep(100 * attempt);
    }
    return { ...order, status: 0, tries, ...(last.body?.error?.code ? { code: last.body.error.code } : {}) };
  });
}

/** An order hash as stored: its times in epoch milliseconds. */
interface StoredOrder extends OrderJob {
  status: string;
  reason?: string;
  createdAt: number;
  decidedAt?: number;
}

async function orderKeys(redis: RedisClient, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', createKeys(prefix).everyOrder(), 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys;
}

interface Snapshot {
  orders: StoredOrder[];
  products: Map<string, { product: Record<string, string>; buyers: Record<string, string> }>;
}

/**
 * Every order, product and buyer ledger read in one MULTI, so the figures agree with each other
 * even when workers are still deciding (a drain that timed out). The API makes no new orders by
 * then: the burst is over, so the key list from SCAN is complete.
 */
async function snapshot(redis: RedisClient, prefix: string, productIds: string[]): Promise<Snapshot> {
  const keys = await orderKeys(redis, prefix);
  const multi = redis.multi();
  for (const key of keys) multi.hgetall(key);
  const k = createKeys(prefix);
  for (const id of productIds) multi.hgetall(k.product(id)).hgetall(k.buyers(id));
  const rows = ((await multi.exec()) ?? []).map(([, value]) => value as Record<string, string>);
  const orders = keys.map((key, i) => {
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
    };
  });
  const products = new Map(
    productIds.map((id, i) => [id, { product: rows[keys.length + 2 * i]!, buyers: rows[keys.length + 2 * i + 1]! }]),
  );
  return { orders, products };
}

/** Waits until the queue is empty and no order is queued (or the timeout), then checks everything. */
export async function check(
  system: System,
  products: ProductPlan[],
  outcomes: Outcome[],
  options: { timeoutMs?: number } = {},
): Promise<CheckReport> {
  const redis = system.redis.client;
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
        redis.llen(ordersQueueKey(system.prefix, 'wait')),
        redis.llen(ordersQueueKey(system.prefix, 'active')),
        redis.zcard(ordersQueueKey(system.prefix, 'delayed')),
        redis.zcard(ordersQueueKey(system.prefix, 'prioritized')),
      ]),
    ]);
    if (queued !== lastQueued) [lastQueued, stableSince] = [queued, Date.now()];
    const idle = waiting === 0 && delayed === 0 && prioritized === 0;
    if ((queued === 0 && idle && active === 0) || (idle && Date.now() - stableSince > 3000) || Date.now() > deadline)
      break;
    await sleep(250);
  }
  const drainedInMs = Date.now() - started;

  const { orders, products: stored } = await snapshot(
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
      if (!order || (order.status !== 'confirmed' && order.status !== 'rejected')) lost += 1;
    } else if (outcome.status !== 0 && mine.length > 0) {
      unexpected += mine.length; // refused with a 4xx, yet an order exists
    }
  }
  for (const order of orders) {
    const request = requestByUser.get(order.userId);
    if (!request || request.productId !== order.productId || request.quantity !== order.quantity) unexpected += 1;
  }

  let oversold = 0;
  let conservationErrors = 0;
  for (const { productId, stock: initial } of products) {
    const { product, buyers } = stored.get(productId)!;
    const remaining = Number(product.stock);
    const confirmed = orders
      .filter((o) => o.productId === productId && o.status === 'confirmed')
      .reduce((sum, o) => sum + o.quantity, 0);
    if (remaining < 0 || confirmed > initial) oversold += Math.max(confirmed - initial, -remaining, 1);
    if (initial - remaining !== confirmed || Number(product.sold) !== confirmed) conservationErrors += 1;
    // A unit taken twice for one order shows as a buyer ledger above that buyer's confirmed orders.
    for (const [userId, units] of Object.entries(buyers)) {
      const mine = (byUser.get(userId) ?? [])
        .filter((o) => o.productId === productId && o.status === 'confirmed')
        .reduce((s, o) => s + o.quantity, 0);
      if (Number(units) > mine) duplicates += 1;
    }
  }

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
    oversold,
    conservation_errors: conservationErrors,
    lost,
    stuck: orders.filter((o) => o.status === 'queued').length,
    duplicates,
    unexpected,
    time_to_terminal_ms: {
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times.length ? Math.max(...times) : NaN,
    },
    decided,
    drained_in_ms: drainedInMs,
  };
}

/** The six figures that must be zero. */
export function violations(report: CheckReport): Partial<CheckReport> {
  const keys = ['oversold', 'conservation_errors', 'lost', 'stuck', 'duplicates', 'unexpected'] as const;
  return Object.fromEntries(keys.filter((k) => report[k] !== 0).map((k) => [k, report[k]]));
}
