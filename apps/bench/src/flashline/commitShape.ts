import {
  type RedisClient,
  commitSections,
  connectRedis,
  createKeys,
  loadConfig,
  setProduct,
  type Keys,
  type OrderJob,
} from '@flashline/core';
import { productsOfOneGroup } from '@flashline/test-utils';

/** How a commit's 64 orders are spread: over how many products of one group. */
const SHAPES = [
  { products: 1, ordersEach: 64 },
  { products: 8, ordersEach: 8 },
  { products: 64, ordersEach: 1 },
];
const CALLS = 400;
const IN_FLIGHT = 32;

export interface CommitShape {
  products: number;
  ordersEach: number;
  /** Redis CPU per order, from INFO commandstats (the commit script, everything it calls included). */
  redisMicrosPerOrder: number;
  /** This process' CPU per order: building the call, writing it, reading the reply. */
  clientMicrosPerOrder: number;
}

async function commitScriptMicros(redis: RedisClient): Promise<number> {
  const stats = await redis.info('commandstats');
  return (
    Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? NaN) +
    Number(/cmdstat_eval:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? 0)
  );
}

/** The orders' records as the accept path leaves them (queued, pending): the commit decides only recorded orders. */
async function recordOrders(redis: RedisClient, keys: Keys, orders: readonly OrderJob[]): Promise<void> {
  const now = Date.now();
  for (let i = 0; i < orders.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const { orderId, productId, userId, quantity } of orders.slice(i, i + 1000)) {
      const orderKey = keys.order(productId, orderId);
      pipeline.hset(orderKey, { status: 'queued', productId, userId, quantity, createdAt: now });
      pipeline.zadd(keys.pending(productId), now, orderKey);
    }
    await pipeline.exec();
  }
}

async function measureShape(
  redis: RedisClient,
  keys: Keys,
  shape: (typeof SHAPES)[number],
  round: number,
): Promise<CommitShape> {
  const productIds = productsOfOneGroup(keys, shape.products, `s${shape.products}r${round}x`);
  // Half the orders find stock, half are sold out, as in the scenarios.
  for (const productId of productIds)
    await setProduct(redis, keys, productId, { stock: (CALLS * shape.ordersEach) / 2 });
  let seq = 0;
  const calls = Array.from({ length: CALLS }, () =>
    productIds.map((productId) => ({
      productId,
      fence: 'claim' as const,
      orders: Array.from({ length: shape.ordersEach }, () => ({
        orderId: `${productId}.${++seq}`,
        productId,
        userId: `u${seq}`,
        quantity: 1,
      })),
    })),
  );
  await recordOrders(
    redis,
    keys,
    calls.flat().flatMap((section) => section.orders),
  );
  const call = () => commitSections(redis, keys, calls.pop()!, { maxQuantity: 10, orderRetentionMs: 60_000 });
  const redisBefore = await commitScriptMicros(redis);
  const cpuBefore = process.cpuUsage();
  for (let sent = 0; sent < CALLS; sent += IN_FLIGHT)
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, CALLS - sent) }, call));
  const cpu = process.cpuUsage(cpuBefore);
  const orders = CALLS * shape.products * shape.ordersEach;
  return {
    ...shape,
    redisMicrosPerOrder: ((await commitScriptMicros(redis)) - redisBefore) / orders,
    clientMicrosPerOrder: (cpu.user + cpu.system) / orders,
  };
}

/**
 * What one product more in a commit costs: commits of 64 orders each, of 1 product, of 8 products
 * (8 orders each) and of 64 products (1 order each), the shapes interleaved round by round; the
 * median round of each shape.
 */
export async function measureCommitShapes(redisUrl: string, rounds: number): Promise<CommitShape[]> {
  const config = loadConfig({ REDIS_URL: redisUrl, KEY_PREFIX: 'shape' });
  const redis = connectRedis(config, 'worker');
  const keys = createKeys(config.keyPrefix);
  try {
    const runs = SHAPES.map(() => [] as CommitShape[]);
    for (let round = 0; round < rounds; round++) {
      for (const [i, shape] of SHAPES.entries()) runs[i]!.push(await measureShape(redis, keys, shape, round));
    }
    return runs.map(
      (all) =>
        [...all].sort((a, b) => a.redisMicrosPerOrder - b.redisMicrosPerOrder)[Math.floor((all.length - 1) / 2)]!,
    );
  } finally {
    redis.disconnect();
  }
}
