import { createRequire } from 'node:module';
import type { Cluster } from 'ioredis';
import { AppError } from '../errors/appError.ts';
import { groupBy } from '../collections/groupBy.ts';
import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from './connect.ts';

/** REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT_MS: how many replicas must hold a write before it is promised. */
export interface Replication {
  replicas: number;
  timeoutMs: number;
}

// ioredis's own slot function (CRC16 of the hash tag); CommonJS without types.
const slotOf = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/**
 * Waits until `replication.replicas` replicas of each master of `written` hold every write that master
 * had made by now (Redis's WAIT), or the timeout; resolves with the keys of `written` whose master did
 * not confirm in time, each with the error that says so (`unavailable`, a 503), and none when all did.
 * Redis replicates asynchronously: a master that dies takes with it what its replicas had not received,
 * and without this a 202 or a decision could be among it. A master that lags holds back only what was
 * written to it: the rest of a batch is promised.
 *
 * WAIT waits for the offset of its connection's last write. So each master gets, on the client's own
 * connection to it, a pipeline of one write (the replication mark, in the slot of one of the keys: a
 * pipeline goes to that key's master, and follows a MOVED) and the WAIT: the mark's offset is past every
 * write that master made before it, this client's and any other's (a retry finds an order another
 * process wrote). One such pipeline per master, in parallel. While WAIT blocks, the connection's later
 * commands queue behind it: the price of the promise.
 */
export async function unreplicated(
  redis: RedisClient,
  keys: Keys,
  written: Iterable<string>,
  replication: Replication,
): Promise<Map<string, unknown>> {
  const failed = new Map<string, unknown>();
  const { replicas, timeoutMs } = replication;
  if (replicas === 0) return failed;
  const byMaster = redis.isCluster
    ? groupBy(written, (key) => masterOf(redis as Cluster, key))
    : new Map([['', [...written]]]);
  await Promise.all(
    [...byMaster.values()].map(async (onMaster) => {
      const [key] = onMaster;
      if (key === undefined) return;
      try {
        const replies = await redis
          .pipeline()
          .set(keys.replicationMark(key), '1', 'PX', 60_000)
          .call('WAIT', replicas, timeoutMs)
          .exec();
        for (const [error] of replies ?? []) if (error) throw error;
        confirm(replies?.[1]?.[1] as number | undefined, replicas, key);
      } catch (error) {
        for (const one of onMaster) failed.set(one, error);
      }
    }),
  );
  return failed;
}

/** As `unreplicated`, for writes promised together: rejects (`unavailable`) unless every master confirmed. */
export async function waitForReplicas(
  redis: RedisClient,
  keys: Keys,
  written: Iterable<string>,
  replication: Replication,
): Promise<void> {
  const failed = await unreplicated(redis, keys, written, replication);
  for (const error of failed.values()) throw error;
}

/** The master serving the key's slot, as the client's slot map says (the slot itself before it has one). */
function masterOf(cluster: Cluster, key: string): string {
  const slot = slotOf(key);
  return cluster.slots[slot]?.[0] ?? `slot ${slot}`;
}

function confirm(acked: number | undefined, replicas: number, where: string): void {
  if (!(acked !== undefined && acked >= replicas))
    throw new AppError(
      'unavailable',
      `only ${acked} of ${replicas} replicas (REDIS_WAIT_REPLICAS) confirmed the write to ${where} in time`,
    );
}
