import type { RequestListener } from 'node:http';
import type { Queue } from 'bullmq';
import {
  type RedisClient,
  connectRedis,
  createKeys,
  createOrdersQueue,
  onePartition,
  loadConfig,
  startWebhookEvents,
  waitUntilReady,
  type Config,
  type Keys,
  type Logger,
  type OrdersJobData,
  type OrderWaiters,
} from '@flashline/core';
import { useRedisServer, type TestRedis } from '@flashline/test-utils';
import { createApp } from '../src/app.ts';
import { startDecisionWaits } from '../src/decisionWaits.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface ApiUnderTest {
  app: RequestListener;
  config: Config;
  redis: RedisClient;
  queue: Queue<OrdersJobData>;
  keys: Keys;
  waiters: OrderWaiters;
  close(): Promise<void>;
}

/**
 * The real app on a real Redis, wired as main.ts wires it (the producer connection included).
 * Rate limits are off unless `env` sets them: most tests send many requests from one address.
 */
export async function apiOn(
  server: TestRedis,
  prefix: string,
  env: Record<string, string> = {},
  // Silent unless a test wants to read the lines.
  log: Logger = () => {},
): Promise<ApiUnderTest> {
  const settings = {
    REDIS_URL: server.url,
    KEY_PREFIX: prefix,
    REDIS_TIMEOUT_MS: '500',
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    // No door counts written every second: the tests compare snapshots of Redis (door.test.ts turns it on).
    DOOR_PUBLISH_MS: '0',
    ...env,
  };
  const config = { ...loadConfig(settings), adminToken: ADMIN_TOKEN };
  const redis = connectRedis(config, 'producer');
  await waitUntilReady(redis, 5000);
  const queue = createOrdersQueue(config, redis);
  const keys = createKeys(prefix);
  const waits = startDecisionWaits(config, redis, keys, log);
  const webhookEvents = startWebhookEvents(redis, keys, config);
  await webhookEvents.ready;
  const app = createApp({
    config,
    redis,
    keys,
    queues: onePartition(queue),
    log,
    waiters: waits.waiters,
    webhookEvents,
  });
  return {
    app,
    config,
    redis,
    queue,
    keys,
    waiters: waits.waiters,
    async close() {
      waits.close();
      webhookEvents.stop();
      await queue.close().catch(() => {});
      redis.disconnect();
    },
  };
}

/**
 * A private redis-server for the enclosing `describe`, and `api(prefix, env)`: `apiOn` that server
 * (or on `server`), every API made closed in `after` before the server stops. Read `.server` inside
 * tests.
 */
export function useApis(): {
  server: TestRedis;
  api: (prefix: string, env?: Record<string, string>, server?: TestRedis) => Promise<ApiUnderTest>;
} {
  const made: ApiUnderTest[] = [];
  const context = useRedisServer({
    beforeStop: async () => {
      for (const api of made) await api.close();
    },
  });
  return Object.assign(context, {
    api: async (prefix: string, env: Record<string, string> = {}, server = context.server) => {
      const api = await apiOn(server, prefix, env);
      made.push(api);
      return api;
    },
  });
}
