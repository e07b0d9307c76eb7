import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config.ts';
import { defineScripts } from './scripts.ts';

/**
 * - `producer`: the API. Fails fast (no offline queue, a command timeout) so a request
 *   answers 503 at once instead of hanging, and never answers 202 for an order not stored.
 * - `worker`: BullMQ workers and the worker's own commands. Waits through a Redis restart
 *   (BullMQ requires `maxRetriesPerRequest: null`) and resumes by itself.
 */
export type RedisRole = 'producer' | 'worker';

export function connectRedis(
  config: Pick<Config, 'redisUrl' | 'redisTimeoutMs'> & Partial<Pick<Config, 'redisTlsCaFile'>>,
  role: RedisRole,
): Redis {
  const common: RedisOptions = {
    connectionName: `flashline-${role}`,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    // rediss:// turns TLS on by itself (ioredis); a private CA is added here.
    ...(config.redisTlsCaFile ? { tls: { ca: readFileSync(config.redisTlsCaFile) } } : {}),
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: config.redisTimeoutMs },
    worker: { maxRetriesPerRequest: null },
  };
  const redis = new Redis(config.redisUrl, { ...common, ...byRole[role] });
  defineScripts(redis);
  // Errors surface through the commands that fail; an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  return redis;
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
