import type { Queue } from 'bullmq';
import type { RedisClient } from './connect.ts';
import { describeUnserved, unservedPartitions, type UnservedPartition } from '../queue/partitionServing.ts';
import { AppError, isRedisFull } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';

/** Whether the API can accept orders now: RedisClient answers and takes writes. */
export type Readiness = { ready: true } | { ready: false; error: AppError };

/** How long one probe's answer stands: /readyz polled by every load balancer costs Redis one write a second. */
const ANSWER_STANDS_MS = 1000;
/** The probe key lives no longer than this, so it never outlives the processes that write it. */
const PROBE_TTL_MS = 1000;

const READY: Readiness = Object.freeze({ ready: true });

/**
 * The API's readiness. PING is not enough: a Redis past `maxmemory` (noeviction) answers it, and every
 * read, while refusing every order. So the probe is a write, the cheapest there is (one tiny key that
 * expires at once), which also catches a replica (READONLY) and failing persistence (MISCONF). Its answer
 * is kept `ANSWER_STANDS_MS`, and callers meanwhile share the probe in flight.
 */
export function createReadiness(deps: { redis: RedisClient; keys: Keys }): { check(): Promise<Readiness> } {
  let answer: { readiness: Promise<Readiness>; until: number } | undefined;

  async function probe(): Promise<Readiness> {
    try {
      await deps.redis.set(deps.keys.readinessProbe(), '1', 'PX', PROBE_TTL_MS);
      return READY;
    } catch (error) {
      const message = isRedisFull(error)
        ? 'Redis is full (used memory past maxmemory) and refuses writes'
        : 'Redis does not answer, or refuses writes';
      return { ready: false, error: new AppError('unavailable', message, { cause: error }) };
    }
  }

  return {
    check() {
      const now = Date.now();
      if (!answer || now >= answer.until) {
        const readiness = probe();
        answer = { readiness, until: Number.POSITIVE_INFINITY };
        // The answer stands from the moment it came, not from when it was asked.
        void readiness.then(() => {
          if (answer?.readiness === readiness) answer.until = Date.now() + ANSWER_STANDS_MS;
        });
      }
      return answer.readiness;
    },
  };
}

/** A worker's readiness: Redis takes writes, and no partition has work that no live worker serves. */
export type WorkerReadiness = Readiness & { unserved: UnservedPartition[] };

/**
 * A worker's /readyz. Besides Redis taking writes, it answers not ready while a partition has unfinished
 * jobs and no live worker announces it (WORKER_PARTITIONS leaving it out, or its workers gone): those
 * orders would stay `queued`, so a deployment that checks its workers' readiness sees the gap at once.
 * Answers stand for a second, as the API's do.
 */
export function createWorkerReadiness(deps: {
  redis: RedisClient;
  keys: Keys;
  partitions: readonly (readonly Queue[])[];
}): { check(): Promise<WorkerReadiness> } {
  const redisReadiness = createReadiness(deps);
  let answer: { readiness: Promise<WorkerReadiness>; until: number } | undefined;
  async function probe(): Promise<WorkerReadiness> {
    const redis = await redisReadiness.check();
    if (!redis.ready) return { ...redis, unserved: [] };
    try {
      const unserved = await unservedPartitions(deps.redis, deps.keys, deps.partitions);
      if (unserved.length === 0) return { ready: true, unserved };
      return { ready: false, error: new AppError('unavailable', describeUnserved(unserved)), unserved };
    } catch (error) {
      return {
        ready: false,
        error: new AppError('unavailable', 'the served partitions could not be read', { cause: error }),
        unserved: [],
      };
    }
  }
  return {
    check() {
      if (!answer || Date.now() >= answer.until) {
        const readiness = probe();
        answer = { readiness, until: Number.POSITIVE_INFINITY };
        void readiness.then(() => {
          if (answer?.readiness === readiness) answer.until = Date.now() + ANSWER_STANDS_MS;
        });
      }
      return answer.readiness;
    },
  };
}
