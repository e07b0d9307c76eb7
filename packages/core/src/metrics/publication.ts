import type { RedisClient } from '../redis/connect.ts';
import type { Registry } from 'prom-client';
import type { Keys } from '../keys/keys.ts';
import { processName } from '../run/processName.ts';
import type { MetricsJson } from './registry.ts';

/** Names a worker process in its `worker` label and its Redis key: `<host>:<pid>`. */
export const workerId = processName;

export interface PublishOptions {
  /** How often the registry is written. */
  intervalMs?: number;
  /** How long a written copy lives: a worker that stops publishing drops out after this. */
  ttlMs?: number;
}

/**
 * Workers serve no HTTP: each writes its registry (prom-client JSON) to Redis every `intervalMs`,
 * with an expiry, and records its id in a sorted set scored by the time of writing, so a reader
 * finds the live workers without SCAN. Returns `stop`, which stops and removes this worker's copy.
 */
export function publishMetrics(
  redis: RedisClient,
  keys: Keys,
  registry: Registry,
  id: string,
  onError: (error: unknown) => void,
  { intervalMs = 1000, ttlMs = 5000 }: PublishOptions = {},
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const publish = async () => {
    const json = JSON.stringify(await registry.getMetricsAsJSON());
    if (stopped) return;
    await redis
      .multi()
      .set(keys.workerMetrics(id), json, 'PX', ttlMs)
      .zadd(keys.metricsWorkers(), Date.now(), id)
      .exec();
  };
  const loop = () => {
    publish()
      .catch(onError)
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, intervalMs).unref();
      });
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
    // Not awaited: with Redis down a shutdown must not wait for it; the copy expires anyway.
    redis
      .multi()
      .del(keys.workerMetrics(id))
      .zrem(keys.metricsWorkers(), id)
      .exec()
      .catch(() => {});
  };
}

/**
 * The registries the live workers published, for `AggregatorRegistry.aggregate`. Ids not refreshed
 * for `maxAgeMs` are dropped from the set (their key has expired by then too).
 */
export async function readPublishedMetrics(
  redis: RedisClient,
  keys: Keys,
  maxAgeMs = 5000,
  now = Date.now(),
): Promise<MetricsJson[]> {
  await redis.zremrangebyscore(keys.metricsWorkers(), '-inf', now - maxAgeMs);
  const ids = await redis.zrange(keys.metricsWorkers(), 0, -1);
  if (ids.length === 0) return [];
  const copies = await redis.mget(ids.map((id) => keys.workerMetrics(id)));
  return copies.flatMap((copy) => {
    if (copy === null) return [];
    try {
      return [JSON.parse(copy) as MetricsJson];
    } catch {
      return []; // never written so by a worker; one bad copy must not cost the whole scrape
    }
  });
}
