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
  options: PublishOptions = {},
): () => void {
  const copy = { key: keys.workerMetrics(id), set: keys.metricsWorkers(), id };
  return publishCopy(redis, copy, async () => JSON.stringify(await registry.getMetricsAsJSON()), onError, options);
}

/** Where a process's copy lives: its key, and the sorted set of live publishers that names it by `id`. */
export interface CopyKeys {
  key: string;
  set: string;
  id: string;
}

/**
 * Writes `write()` to `copy.key` every `intervalMs`, expiring after `ttlMs`, and `copy.id` to the set
 * scored by the time of writing (workers' metrics, API processes' door counts). Returns `stop`,
 * which stops and removes the copy. Never two writes at once: the next is timed from the end of the last.
 */
export function publishCopy(
  redis: RedisClient,
  copy: CopyKeys,
  write: () => Promise<string> | string,
  onError: (error: unknown) => void,
  { intervalMs = 1000, ttlMs = 5000 }: PublishOptions = {},
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const publish = async () => {
    const json = await write();
    if (stopped) return;
    await redis.multi().set(copy.key, json, 'PX', ttlMs).zadd(copy.set, Date.now(), copy.id).exec();
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
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    // Not awaited: with Redis down a shutdown must not wait for it; the copy expires anyway.
    redis
      .multi()
      .del(copy.key)
      .zrem(copy.set, copy.id)
      .exec()
      .catch(() => {});
  };
}

/**
 * The copies the live publishers of `set` wrote, as strings, one MGET. Ids not refreshed for
 * `maxAgeMs` are dropped from the set (their key has expired by then too).
 */
export async function readCopies(
  redis: RedisClient,
  set: string,
  keyOf: (id: string) => string,
  maxAgeMs: number,
  now: number,
): Promise<{ id: string; copy: string }[]> {
  await redis.zremrangebyscore(set, '-inf', now - maxAgeMs);
  const ids = await redis.zrange(set, 0, -1);
  if (ids.length === 0) return [];
  const copies = await redis.mget(ids.map(keyOf));
  return ids.flatMap((id, i) => (copies[i] == null ? [] : [{ id, copy: copies[i] }]));
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
  const copies = await readCopies(redis, keys.metricsWorkers(), keys.workerMetrics, maxAgeMs, now);
  return copies.flatMap(({ copy }) => {
    try {
      return [JSON.parse(copy) as MetricsJson];
    } catch {
      return []; // never written so by a worker; one bad copy must not cost the whole scrape
    }
  });
}
