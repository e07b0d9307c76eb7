import type { Redis } from 'ioredis';
import { after, before } from 'node:test';
import { startRedis, type TestRedis } from '@flashline/test-utils';
import { connectRedis, createKeys, type Keys } from '../src/index.ts';

let counter = 0;

/** A fresh key prefix per test, so tests sharing one server never see each other's keys. */
export function uniqueKeys(): Keys {
  counter += 1;
  return createKeys(`t${process.pid}x${counter}`);
}

/** A worker-style client with Flashline's scripts defined. */
export function scriptedClient(redis: TestRedis): Redis {
  return connectRedis({ redisUrl: redis.url, redisTimeoutMs: 2000 }, 'worker');
}

/** Every key under a test's prefix, for "nothing changed" assertions. */
export async function snapshot(redis: Redis, keys: Keys): Promise<Record<string, string>> {
  const found = await redis.keys(`${keys.prefix}:*`);
  const out: Record<string, string> = {};
  for (const key of found.sort()) out[key] = JSON.stringify(await redis.dump(key));
  return out;
}

/**
 * A private redis-server and a scripted client for the enclosing `describe`, started in `before`
 * and stopped in `after`. Read `.server` and `.redis` inside tests.
 */
export function useRedis(): { server: TestRedis; redis: Redis } {
  const context = {} as { server: TestRedis; redis: Redis };
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

/** Records one order as queued, the way the API's accept batch does for a batch of one (no job added). */
export async function recordOrder(
  redis: Redis,
  keys: Keys,
  productId: string,
  orderId: string,
  userId: string,
  quantity: number,
): Promise<string | number> {
  const reply = await redis.acceptOrders(
    3,
    keys.product(productId),
    keys.pending(productId),
    keys.order(productId, orderId),
    productId,
    Date.now(),
    orderId,
    orderId,
    userId,
    quantity,
  );
  return typeof reply === 'number' ? reply : reply[0]!;
}
