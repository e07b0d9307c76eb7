import type { RedisClient } from '../src/index.ts';
import { after, before } from 'node:test';
import { startRedis, useRedisServer, type TestRedis } from '@flashline/test-utils';
import {
  AppError,
  commitSections,
  connectRedis,
  decodeRecordOrders,
  createKeys,
  type CommitResult,
  type CommitRules,
  type Keys,
  type OrderJob,
} from '../src/index.ts';

let counter = 0;

/** A fresh key prefix per test, so tests sharing one server never see each other's keys. */
export function uniqueKeys(): Keys {
  counter += 1;
  return createKeys(`t${process.pid}x${counter}`);
}

let orders = 0;

/** An order of `quantity` units of the product for the user, with an order id of our form that no other test has. */
export const order = (productId: string, userId: string, quantity: number): OrderJob => ({
  orderId: `${productId}.${String(++orders).padStart(16, '0')}`,
  productId,
  userId,
  quantity,
});

/** A worker-style client with Flashline's scripts defined. */
export function scriptedClient(redis: TestRedis): RedisClient {
  return connectRedis({ redisUrl: redis.url, redisTimeoutMs: 2000 }, 'worker');
}

/** Every key under a test's prefix, for "nothing changed" assertions. */
export async function snapshot(redis: RedisClient, keys: Keys): Promise<Record<string, string>> {
  const found = await redis.keys(`${keys.prefix}:*`);
  const out: Record<string, string> = {};
  for (const key of found.sort()) out[key] = JSON.stringify(await redis.dump(key));
  return out;
}

/**
 * A private redis-server and a scripted client for the enclosing `describe`, started in `before`
 * and stopped in `after`. Read `.server` and `.redis` inside tests.
 */
export function useRedis(): { server: TestRedis; redis: RedisClient } {
  const context = {} as { server: TestRedis; redis: RedisClient };
  before(async () => {
    context.server = await startRedis();
    context.redis = scriptedClient(context.server);
  });
  after(async () => {
    context.redis.disconnect();
    await context.server.stop();
  });
  return context;
}

/**
 * A private redis-server for the enclosing `describe`, and `client()`: a new scripted client on it
 * each call (separate connections, as separate worker processes would have), every one disconnected
 * in `after` before the server stops. Read `.server` inside tests.
 */
export function useClients(): { server: TestRedis; client: () => RedisClient } {
  const clients: RedisClient[] = [];
  const context = useRedisServer({
    beforeStop: () => {
      for (const c of clients) c.disconnect();
    },
  });
  return Object.assign(context, {
    client: () => {
      const c = scriptedClient(context.server);
      clients.push(c);
      return c;
    },
  });
}

/** Records one order as queued, the way the API's accept batch does for a batch of one (no job added). */
export async function recordOrder(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  orderId: string,
  userId: string,
  quantity: number,
): Promise<void> {
  // One section, one order (no key, not counted: the buyers' step has nothing to do), its job its own id.
  const reply = decodeRecordOrders(
    await redis.recordOrders([
      3,
      keys.product(productId),
      keys.pending(productId),
      keys.order(productId, orderId),
      Date.now(),
      orderId,
      1,
      productId,
      1,
      orderId,
      userId,
      quantity,
    ]),
    1,
  );
  if (reply.kind !== 'answered' || reply.items[0]?.kind !== 'new')
    throw new Error(`not recorded: ${JSON.stringify(reply)}`);
}

/**
 * Records orders as the accept path does (queued, in the product's pending set), those not recorded
 * yet: the commit decides only recorded orders. Unlike acceptOrders it checks no stock, so a test may
 * record an order its product cannot serve.
 */
export async function recordAsAccepted(redis: RedisClient, keys: Keys, orders: readonly OrderJob[]): Promise<void> {
  for (const { orderId, productId, userId, quantity } of orders) {
    const orderKey = keys.order(productId, orderId);
    if (!(await redis.hsetnx(orderKey, 'status', 'queued'))) continue;
    const now = Date.now();
    await redis.hset(orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity, 'createdAt', now);
    await redis.zadd(keys.pending(productId), now, orderKey);
  }
}

/**
 * One product's orders committed under a fencing token, in one script call (recorded first, when
 * they were not): one result per order
 * (an AppError `invalid_request` for a malformed or contradicting one), or the section's refusal
 * thrown (`lease_lost` for a stale fence, `unknown_product`). The tests' view of commitSections.
 */
export async function commitOrders(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  orders: readonly OrderJob[],
  fence: number | 'claim',
  rules: CommitRules,
): Promise<(CommitResult | AppError)[]> {
  await recordAsAccepted(redis, keys, orders);
  const reply = await commitSections(redis, keys, [{ productId, orders, fence }], rules);
  if (reply.kind === 'invalid_arguments') throw new AppError('invalid_request', 'the commit had invalid arguments');
  const section = reply.sections[0]!;
  switch (section.kind) {
    case 'decided':
      return section.orders.map((order, i) => {
        switch (order.kind) {
          case 'decided':
            return { decision: order.decision, applied: order.applied };
          case 'invalid':
            return new AppError(
              'invalid_request',
              `order ${orders[i]!.orderId} has invalid or contradicting arguments`,
            );
          case 'unknown':
            return new AppError('not_found', `order ${orders[i]!.orderId} has no record`);
        }
      });
    case 'stale_fence':
      throw new AppError('lease_lost', `fencing token ${fence} for product ${productId} is stale`);
    case 'unknown_product':
      throw new AppError('unknown_product', `product ${productId} does not exist`);
    case 'lock_held':
      throw new LockHeld();
  }
}

class LockHeld extends Error {}

/** One order committed under a fencing token; an invalid order throws. */
export async function commitOrder(
  redis: RedisClient,
  keys: Keys,
  order: OrderJob,
  fence: number,
  rules: CommitRules,
): Promise<CommitResult> {
  const [result] = await commitOrders(redis, keys, order.productId, [order], fence, rules);
  if (result instanceof AppError) throw result;
  return result!;
}

/** A commit that claims the free lock in the script; null when another holder has the lock. */
export async function claimAndCommit(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  orders: readonly OrderJob[],
  rules: CommitRules,
): Promise<(CommitResult | AppError)[] | null> {
  return commitOrders(redis, keys, productId, orders, 'claim', rules).catch((error: unknown) => {
    if (error instanceof LockHeld) return null;
    throw error;
  });
}
