import type { RedisClient } from './connect.ts';
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
