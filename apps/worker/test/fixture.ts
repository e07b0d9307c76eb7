import { before } from 'node:test';
import type { Worker } from 'bullmq';
import {
  type RedisClient,
  connectRedis,
  createKeys,
  createOrdersQueue,
  loadConfig,
  type Config,
  type Keys,
  type OrderAcceptor,
  type WorkerMetrics,
} from '@flashline/core';
import { acceptOrThrow, testAcceptor, useRedisServer, type TestRedis } from '@flashline/test-utils';
import { createOrderWorker } from '../src/orderWorker.ts';

export interface WorkerFixture {
  server: TestRedis;
  config: Config;
  /** The worker's connection. */
  redis: RedisClient;
  /** The API's side: the queue and the acceptor use it. */
  producer: RedisClient;
  queue: ReturnType<typeof createOrdersQueue>;
  worker: Worker;
  keys: Keys;
  /** One acceptor for the whole describe, made on first use. */
  acceptor: () => OrderAcceptor;
  /** Accepts an order as the API would, or throws the AppError it was refused with. */
  place: (productId: string, userId: string, quantity?: number) => ReturnType<typeof acceptOrThrow>;
}

/**
 * A private redis-server and a running order worker (short backoff, lock wait and TTL) under key
 * prefix `prefix`, for the enclosing `describe`: started in `before`, closed in `after`. `keys`,
 * `acceptor` and `place` are there at once; read the rest inside tests.
 */
export function useOrderWorker(settings: { prefix: string; attempts: number; metrics?: WorkerMetrics }): WorkerFixture {
  const keys = createKeys(settings.prefix);
  let acceptor: OrderAcceptor | undefined;
  const fixture = Object.assign(
    useRedisServer({
      beforeStop: async () => {
        await fixture.worker.close();
        await fixture.queue.close();
        fixture.redis.disconnect();
        fixture.producer.disconnect();
      },
    }),
    {
      keys,
      acceptor: () => (acceptor ??= testAcceptor({ redis: fixture.producer, keys, queue: fixture.queue })),
      place: (productId: string, userId: string, quantity = 1) =>
        acceptOrThrow(fixture.acceptor(), { productId, userId, quantity }),
    },
  ) as WorkerFixture;
  before(async () => {
    fixture.config = loadConfig({
      REDIS_URL: fixture.server.url,
      KEY_PREFIX: settings.prefix,
      JOB_ATTEMPTS: String(settings.attempts),
      JOB_BACKOFF_MS: '20',
      LOCK_WAIT_MS: '50',
      LOCK_TTL_MS: '1000',
    });
    fixture.redis = connectRedis(fixture.config, 'worker');
    fixture.producer = connectRedis(fixture.config, 'worker');
    fixture.queue = createOrdersQueue(fixture.config, fixture.producer);
    fixture.worker = createOrderWorker(fixture.config, fixture.redis, () => {}, settings.metrics);
    void fixture.worker.run();
    await fixture.worker.waitUntilReady();
  });
  return fixture;
}
