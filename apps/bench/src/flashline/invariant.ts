import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisClient, createKeys } from '@flashline/core';
import { percentile } from '../measure.ts';

export interface Invariant {
  /** Units sold beyond the initial stock, summed over products (negative stock included). */
  oversold: number;
  /** Products where initial stock − stock left ≠ units of the won orders (confirmed, or held: reserved). */
  conservationErrors: number;
  /** Orders still queued after the drain, plus accepted orders with no order record. */
  lost: number;
  /** Products where the buyers' ledger, sold + reserved, or the won counters disagree with the won orders: an order applied twice. */
  duplicates: number;
  /** Orders read, and their decisions by outcome. */
  orders: number;
  decided: Record<string, number>;
  /** Accept (API) to decision (worker) latency over every decided order, from the order records. */
  decisionLatencyMs: { p50: number; p99: number; max: number };
  /** The latest `decidedAt` of the orders (epoch ms, the workers' clock): when the last decision was made. */
  lastDecidedAt: number;
  /** The earliest `decidedAt`: how soon the workers started deciding. */
  firstDecidedAt: number;
  /** Up to 5 products that failed the check, with what was read, so a violated round can be looked into. */
  failed: {
    productId: string;
    initial: number;
    stock: number;
    sold: number;
    ledger: number;
    confirmedCounter: number;
    confirmedUnits: number;
    confirmedOrders: number;
  }[];
}

/** Every key matching a pattern: one SCAN on a single Redis; on a cluster, one per master (RedisNodes.scan). */
export type ScanKeys = (pattern: string) => Promise<string[]>;

const scanOne =
  (redis: RedisClient): ScanKeys =>
  async (pattern) => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys;
  };

/** How long the check waits for a sale to stop moving before it gives up (and says so). */
const SETTLE_TIMEOUT_MS = 60_000;

/** Every product's hash, in one pipeline per product: every change of one of its orders changes it. */
async function fingerprints(redis: RedisClient, keyPrefix: string, productIds: readonly string[]): Promise<string[]> {
  const keys = createKeys(keyPrefix);
  const hashes = await Promise.all(productIds.map((productId) => redis.hgetall(keys.product(productId))));
  return hashes.map((hash) => JSON.stringify(Object.entries(hash).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * The invariant check every scenario ends with, read straight from Redis: every order record of the
 * products (one SCAN), each product's stock, sold and ledger. `accepted` is how many
 * orders the scenario saw accepted (202, or accepted through the domain).
 *
 * It never judges a sale that is still moving. Its reads are many commands, not one instant: a hold that
 * expires (or an order decided) between the read of the orders and that of the product would look like a
 * unit lost or applied twice (what a loaded machine once showed: 567 orders read reserved, 464 units held).
 * Every change of an order's state changes its product's hash in the same script (stock, sold, reserved,
 * the decision counters), so each product's hash is read before and after the whole read: a read during
 * which any of them changed is thrown away and done again, until one finds every product still (or
 * SETTLE_TIMEOUT_MS passes, and the check throws rather than report a violation it cannot tell).
 */
export async function checkInvariant(
  redis: RedisClient,
  keyPrefix: string,
  products: { productId: string; stock: number }[],
  accepted: number,
  scan: ScanKeys = scanOne(redis),
): Promise<Invariant> {
  const productIds = products.map((p) => p.productId);
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const before = await fingerprints(redis, keyPrefix, productIds);
    const result = await readInvariant(redis, keyPrefix, products, accepted, scan);
    const after = await fingerprints(redis, keyPrefix, productIds);
    if (before.every((print, i) => print === after[i])) return result;
    if (Date.now() > deadline)
      throw new Error(`the sale was still moving ${SETTLE_TIMEOUT_MS} ms after the check began: not judged`);
    await sleep(100);
  }
}

async function readInvariant(
  redis: RedisClient,
  keyPrefix: string,
  products: { productId: string; stock: number }[],
  accepted: number,
  scan: ScanKeys,
): Promise<Invariant> {
  const keys = createKeys(keyPrefix);
  if (keys.order('x', 'y') !== `${keyPrefix}:{g:${keys.group('x')}}:p:x:order:y`)
    throw new Error('the order key layout changed: update the pattern below');
  const result: Invariant = {
    oversold: 0,
    conservationErrors: 0,
    lost: 0,
    duplicates: 0,
    orders: 0,
    decided: {},
    decisionLatencyMs: { p50: 0, p99: 0, max: 0 },
    lastDecidedAt: 0,
    firstDecidedAt: Infinity,
    failed: [],
  };
  const latencies: number[] = [];
  // One SCAN over the whole keyspace for every product's orders (one per product would read it 1,000 times).
  const keysByProduct = new Map<string, string[]>(products.map((p) => [p.productId, []]));
  const productOfKey = new RegExp(
    `^${keyPrefix.replace(/[^A-Za-z0-9_-]/g, '\\$&')}:\\{g:\\d+\\}:p:([A-Za-z0-9_-]+):order:`,
  );
  // SCAN may return a key twice (while the keyspace is rehashed, as it is after a run's writes): each order
  // is counted once. Counted twice, it was taken for an order applied twice (the rare "wide sale" violation).
  for (const key of new Set(await scan(keys.everyOrder())))
    keysByProduct.get(productOfKey.exec(key)?.[1] ?? '')?.push(key);
  for (const { productId, stock: initial } of products) {
    const orderKeys = keysByProduct.get(productId)!;
    // A product's keys share its group's hash tag: one pipeline per product stays in one cluster slot.
    const pipeline = redis.pipeline();
    for (const key of orderKeys) pipeline.hmget(key, 'status', 'reason', 'quantity', 'createdAt', 'decidedAt');
    const orders = ((await pipeline.exec()) ?? []).map(([, fields]) => fields as (string | null)[]);
    // Won: confirmed, or held for payment (reserved, a product with holdSeconds).
    let confirmedUnits = 0;
    let confirmedOrders = 0;
    // Orders ever won: those won now, and holds that ended since (expired, cancelled): the won counters count them.
    let wonEver = 0;
    for (const [status, reason, quantity, createdAt, decidedAt] of orders) {
      result.orders += 1;
      if (status === 'queued' || !status) {
        result.lost += 1;
        continue;
      }
      const ended = status === 'expired' || status === 'cancelled';
      if (ended) wonEver += 1;
      const outcome = status === 'confirmed' || status === 'reserved' || ended ? status : `rejected ${reason}`;
      result.decided[outcome] = (result.decided[outcome] ?? 0) + 1;
      if (status === 'confirmed' || status === 'reserved') {
        confirmedUnits += Number(quantity);
        confirmedOrders += 1;
      }
      if (createdAt && decidedAt) latencies.push(Number(decidedAt) - Number(createdAt));
      if (decidedAt) {
        result.lastDecidedAt = Math.max(result.lastDecidedAt, Number(decidedAt));
        result.firstDecidedAt = Math.min(result.firstDecidedAt, Number(decidedAt));
      }
    }
    const [stock, soldAtOnce, confirmedAtOnce, reserved, held] = (
      await redis.hmget(keys.product(productId), 'stock', 'sold', 'confirmed', 'reserved', 'held')
    ).map(Number);
    // Held units count as won, as sold ones do (no hold is paid for in these runs).
    const sold = soldAtOnce! + (reserved || 0);
    const confirmedCounter = (confirmedAtOnce || 0) + (held || 0);
    const ledger = (await redis.hvals(keys.buyers(productId))).reduce((sum, units) => sum + Number(units), 0);
    result.oversold += Math.max(0, sold - initial) + Math.max(0, -stock!);
    const conserved = initial - stock! === confirmedUnits;
    const once = ledger === confirmedUnits && sold === confirmedUnits && confirmedCounter === confirmedOrders + wonEver;
    if (!conserved) result.conservationErrors += 1;
    if (!once) result.duplicates += 1;
    if ((!conserved || !once) && result.failed.length < 5)
      result.failed.push({
        productId,
        initial,
        stock: stock!,
        sold,
        ledger,
        confirmedCounter,
        confirmedUnits,
        confirmedOrders,
      });
  }
  result.lost += Math.max(0, accepted - result.orders);
  latencies.sort((a, b) => a - b);
  result.decisionLatencyMs = {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
  };
  return result;
}

/** True when nothing is oversold, lost or doubled. */
export const holds = (check: Invariant) =>
  check.oversold === 0 && check.conservationErrors === 0 && check.lost === 0 && check.duplicates === 0;
