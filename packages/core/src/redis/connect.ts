import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config.ts';
import { defineScripts } from './scripts.ts';

/** A connection to the one Redis of REDIS_URL, or to a Redis Cluster (REDIS_CLUSTER_NODES): the code is the same. */
export type RedisClient = Redis | Cluster;

/**
 * - `producer`: the API. Fails fast (no offline queue, a command timeout) so a request
 *   answers 503 at once instead of hanging, and never answers 202 for an order not stored.
 * - `worker`: BullMQ workers and the worker's own commands. Waits through a Redis restart
 *   (BullMQ requires `maxRetriesPerRequest: null`) and resumes by itself.
 */
export type RedisRole = 'producer' | 'worker';

export function connectRedis(
  config: Pick<Config, 'redisUrl' | 'redisTimeoutMs'> & Partial<Pick<Config, 'redisTlsCaFile' | 'redisCluster'>>,
  role: RedisRole,
): RedisClient {
  const tlsCa = config.redisTlsCaFile ? { ca: readFileSync(config.redisTlsCaFile) } : undefined;
  const common: RedisOptions = {
    connectionName: `flashline-${role}`,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    // rediss:// turns TLS on by itself (ioredis); a private CA is added here.
    ...(tlsCa ? { tls: tlsCa } : {}),
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: config.redisTimeoutMs },
    worker: { maxRetriesPerRequest: null },
  };
  const redis = config.redisCluster
    ? connectCluster(config.redisCluster, { ...common, ...byRole[role], ...(tlsCa ? { tls: tlsCa } : {}) })
    : new Redis(config.redisUrl, { ...common, ...byRole[role] });
  defineScripts(redis);
  // Errors surface through the commands that fail; an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  return redis;
}

/**
 * A cluster client set for failover on purpose. A master that dies is replaced by its replica only
 * after `cluster-node-timeout` (15 s by default, 2 to 5 s in our tests and `npm run start:cluster`), and
 * until then its slots answer nothing: a command is retried every `retryDelayOnFailover` up to
 * `maxRedirections` times, 300 ms × 64 ≈ 19 s, longer than that timeout, so a worker rides a failover out
 * instead of failing its job (the API's commands still end at REDIS_TIMEOUT_MS: it answers 503 and the
 * client retries with its key). The slot map is read again every 2 s, so a reshard or a promotion is seen
 * before a MOVED has to teach it. No auto-pipelining: with it, a write can be sent to a node that no
 * longer owns its slot and be answered for the wrong batch (ioredis#2075, open).
 */
function connectCluster(
  settings: NonNullable<Config['redisCluster']>,
  redisOptions: RedisOptions & { enableOfflineQueue?: boolean },
): Cluster {
  const { enableOfflineQueue = true, retryStrategy, ...nodeOptions } = redisOptions;
  const options: ClusterOptions = {
    enableOfflineQueue,
    enableAutoPipelining: false,
    retryDelayOnFailover: 300,
    maxRedirections: 64,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 100,
    slotsRefreshInterval: 2000,
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) ?? null } : {}),
    redisOptions: {
      ...nodeOptions,
      ...(settings.username === undefined ? {} : { username: settings.username }),
      ...(settings.password === undefined ? {} : { password: settings.password }),
      ...(settings.tls && !nodeOptions.tls ? { tls: {} } : {}),
      ...(!settings.tls ? { tls: undefined } : {}),
    },
  };
  return new Cluster(settings.nodes, options);
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitUntilReady(redis: RedisClient, timeoutMs: number): Promise<void> {
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
