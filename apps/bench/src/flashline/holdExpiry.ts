import { setTimeout as sleep } from 'node:timers/promises';
import {
  connectRedis,
  createKeys,
  createOrderAcceptor,
  createOrdersQueues,
  loadConfig,
  setProduct,
  type Keys,
  type RedisClient,
} from '@flashline/core';
import { scanKeys, startApp } from '@flashline/test-utils';
import { percentile } from '../measure.ts';
import { checkInvariant, type Invariant } from './invariant.ts';

export interface HoldExpiryOptions {
  redisUrl: string;
  keyPrefix: string;
  /** Units, and orders of one unit in each wave: every unit held at once, so every hold expires in the same second. */
  holds: number;
  holdSeconds: number;
  workers: number;
  env?: Record<string, string>;
}

const IN_FLIGHT = 64;

/** Every order of the product as stored: status and times (epoch ms, Redis's clock for the hold's). */
async function readOrders(redis: RedisClient, keys: Keys, productId: string) {
  // scanKeys counts each key once (SCAN may return one twice while the keyspace is rehashed).
  const found = await scanKeys(redis, keys.order(productId, '*'));
  const pipeline = redis.pipeline();
  for (const key of found) pipeline.hmget(key, 'status', 'userId', 'decidedAt', 'holdExpiresAt', 'expiredAt');
  return ((await pipeline.exec()) ?? []).map(([, fields]) => {
    const [status, userId, decidedAt, holdExpiresAt, expiredAt] = fields as (string | null)[];
    return {
      status,
      userId,
      decidedAt: Number(decidedAt),
      holdExpiresAt: Number(holdExpiresAt),
      expiredAt: Number(expiredAt),
    };
  });
}

/**
 * `holds` one-unit holds of one product, all won within a fraction of a second (so their deadlines fall
 * in the same second), expiring together with the workers running: how long after its deadline each
 * was released (by its expiry timer; nothing else reads the product meanwhile), and then a second wave
 * of as many new orders, to see the freed units sold again and how fast.
 */
export async function measureHoldExpiry(options: HoldExpiryOptions) {
  const env = { REDIS_URL: options.redisUrl, KEY_PREFIX: options.keyPrefix, ...options.env };
  const config = loadConfig(env);
  const redis = connectRedis(config, 'worker');
  const keys = createKeys(config.keyPrefix);
  const queues = createOrdersQueues(config, redis);
  const productId = 'drop';
  const workers = Array.from({ length: options.workers }, () => startApp('apps/worker/src/main.ts', env));
  try {
    await setProduct(redis, keys, productId, { stock: options.holds, holdSeconds: options.holdSeconds });
    await Promise.all(workers.map((w) => w.waitForLog(/worker ready/, 30_000)));
    const acceptor = createOrderAcceptor(
      { redis, keys, queues },
      { ...config, soldOutMemoryMs: 0, rateLimit: { perUser: 0, windowMs: config.rateLimit.windowMs } },
    );
    const wave = async (prefix: string) => {
      const started = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          for (let i = next++; i < options.holds; i = next++) {
            const outcome = await acceptor.accept({ productId, userId: `${prefix}${i}`, quantity: 1 });
            if (outcome.kind === 'refused') throw outcome.error;
          }
        }),
      );
      // Decided when the product's pending set is empty.
      while ((await redis.zcard(keys.pending(productId))) > 0) await sleep(10);
      return started;
    };

    const firstStarted = await wave('a');
    // Every hold won, expired ones included: on a loaded machine the wave outlasts holdSeconds, and the first
    // holds have ended by the time it is read (counting only `reserved` ones undercounted them, 4,420 of 10,000).
    const held = (await readOrders(redis, keys, productId)).filter(
      (o) => o.status === 'reserved' || o.status === 'expired',
    );
    const deadlines = held.map((o) => o.holdExpiresAt).sort((a, b) => a - b);
    const lastDeadline = deadlines[deadlines.length - 1]!;
    // Until every hold's deadline has passed and its timer had time to act.
    while (Date.now() < lastDeadline + 3000) await sleep(100);
    const ended = (await readOrders(redis, keys, productId)).filter((o) => o.userId?.startsWith('a'));
    const lags = ended.filter((o) => o.status === 'expired').map((o) => o.expiredAt - o.holdExpiresAt);
    lags.sort((a, b) => a - b);
    const stillHeld = ended.filter((o) => o.status === 'reserved').length;

    const secondStarted = await wave('b');
    const second = (await readOrders(redis, keys, productId)).filter((o) => o.userId?.startsWith('b'));
    const resold = second.filter((o) => o.status === 'reserved' || o.status === 'expired').length;
    const lastDecided = Math.max(...second.map((o) => o.decidedAt));
    const invariant: Invariant = await checkInvariant(
      redis,
      options.keyPrefix,
      [{ productId, stock: options.holds }],
      0,
    );
    return {
      holds: held.length,
      firstWaveMs: Math.max(...held.map((o) => o.decidedAt)) - firstStarted,
      /** From the first deadline to the last. */
      deadlineSpreadMs: lastDeadline - deadlines[0]!,
      releaseLagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: percentile(lags, 100) },
      released: lags.length,
      stillHeld,
      /** From the last deadline to the last release. */
      allReleasedAfterMs: Math.max(...ended.map((o) => o.expiredAt)) - lastDeadline,
      resold,
      resoldPerSecond: resold / ((lastDecided - secondStarted) / 1000),
      invariant,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await queues.close();
    redis.disconnect();
  }
}
