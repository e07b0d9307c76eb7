import type { Queue } from 'bullmq';
import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';

export interface AnnounceOptions {
  /** How often the announcement is written. */
  intervalMs?: number;
  /** How long one announcement lives: a worker that stops announcing no longer serves after this. */
  ttlMs?: number;
}

/** Ids in the index older than this are pruned; far longer than the key's life, so a reader's clock ahead of a writer's drops no live worker. */
const INDEX_MAX_AGE_MS = 60_000;

/**
 * A worker's heartbeat: every `intervalMs` it writes the partitions it serves (WORKER_PARTITIONS) to
 * an expiring key and its id to an index, as it publishes its metrics. A partition nobody announces is
 * served by no live worker: its orders would wait `queued` for ever, so readers flag it
 * (`unservedPartitions`). Returns `stop`, which removes the announcement at once.
 */
export function announcePartitions(
  redis: RedisClient,
  keys: Keys,
  id: string,
  partitions: readonly number[],
  onError: (error: unknown) => void,
  { intervalMs = 1000, ttlMs = 5000 }: AnnounceOptions = {},
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const announce = () =>
    redis
      .multi()
      .set(keys.servedBy(id), partitions.join(','), 'PX', ttlMs)
      .zadd(keys.partitionWorkers(), Date.now(), id)
      .exec();
  const loop = () => {
    announce()
      .catch(onError)
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, intervalMs).unref();
      });
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
    // Not awaited: with Redis down a shutdown must not wait for it; the announcement expires anyway.
    redis
      .multi()
      .del(keys.servedBy(id))
      .zrem(keys.partitionWorkers(), id)
      .exec()
      .catch(() => {});
  };
}

/** The partitions some live worker announces now (their keys have not expired). */
export async function servedPartitions(redis: RedisClient, keys: Keys, now = Date.now()): Promise<Set<number>> {
  await redis.zremrangebyscore(keys.partitionWorkers(), '-inf', now - INDEX_MAX_AGE_MS);
  const ids = await redis.zrange(keys.partitionWorkers(), 0, -1);
  const served = new Set<number>();
  if (ids.length === 0) return served;
  const lists = await redis.mget(ids.map((id) => keys.servedBy(id)));
  for (const list of lists)
    for (const partition of list?.split(',') ?? []) if (/^\d+$/.test(partition)) served.add(Number(partition));
  return served;
}

/** A partition with work waiting and no live worker serving it. */
export interface UnservedPartition {
  partition: number;
  /** Its jobs not yet finished (waiting, delayed, prioritized, active), every queue of the partition together. */
  waiting: number;
}

/** Jobs that still need a worker: an `active` job of a worker that died waits for another to find it stalled. */
const PENDING = ['wait', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;

/**
 * The partitions that have unfinished jobs and that no live worker serves. `partitions[p]` is every
 * queue of partition p (orders, holds, webhooks). Queues are read only for partitions nobody serves:
 * with every partition served this costs three commands.
 */
export async function unservedPartitions(
  redis: RedisClient,
  keys: Keys,
  partitions: readonly (readonly Queue[])[],
  now = Date.now(),
): Promise<UnservedPartition[]> {
  const served = await servedPartitions(redis, keys, now);
  const candidates = partitions.flatMap((queues, partition) => (served.has(partition) ? [] : [{ partition, queues }]));
  const counted = await Promise.all(
    candidates.map(async ({ partition, queues }) => {
      const counts = await Promise.all(queues.map((queue) => queue.getJobCounts(...PENDING)));
      const waiting = counts.reduce((sum, c) => sum + PENDING.reduce((n, state) => n + (c[state] ?? 0), 0), 0);
      return { partition, waiting };
    }),
  );
  return counted.filter(({ waiting }) => waiting > 0);
}

/** Each partition's queues, from the lists of every partition of each kind (orders, holds, webhooks). */
export function queuesByPartition(...kinds: readonly (readonly Queue[])[]): Queue[][] {
  const partitions = Math.max(0, ...kinds.map((kind) => kind.length));
  return Array.from({ length: partitions }, (_, p) => kinds.flatMap((kind) => (kind[p] ? [kind[p]] : [])));
}

/** One line for an operator: which partitions wait for a worker. */
export function describeUnserved(unserved: readonly UnservedPartition[]): string {
  const list = unserved.map(({ partition, waiting }) => `partition ${partition} (${waiting} jobs waiting)`).join(', ');
  return `no live worker serves ${list}: set WORKER_PARTITIONS so that every partition is served`;
}
