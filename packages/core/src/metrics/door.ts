import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';
import { errorFields, type Logger } from '../log/logger.ts';
import { processName } from '../run/processName.ts';
import type { ApiMetrics } from './apiMetrics.ts';
import { publishCopy, readCopies } from './publication.ts';

/**
 * The front door: how each `POST /orders` was answered, as an operator reads a sale. `sold_out` is
 * answered from the API's sold-out memory or from Redis, `not_open` / `closed` by the sale window,
 * `invalid` is any refusal of the request itself (its body, its product, its token, its key),
 * `unavailable` a 503 (Redis unreachable or full); `other` is whatever else (a 500).
 */
export const DOOR_OUTCOMES = [
  'accepted',
  'sold_out',
  'rate_limited',
  'not_open',
  'closed',
  'invalid',
  'unavailable',
  'other',
] as const;
export type DoorOutcome = (typeof DOOR_OUTCOMES)[number];

/** One API process's counts since it started: every request it answered, and `POST /orders` by outcome. */
export interface DoorCounts {
  requests: number;
  orders: Record<DoorOutcome, number>;
}

/** What an API process publishes: its counts, when it started counting and when it wrote them (its clock). */
export interface DoorCopy extends DoorCounts {
  id: string;
  startedAt: number;
  at: number;
}

const OUTCOME_OF_CODE: Partial<Record<ErrorCode, DoorOutcome>> = {
  sold_out: 'sold_out',
  rate_limited: 'rate_limited',
  sale_not_open: 'not_open',
  sale_closed: 'closed',
  invalid_request: 'invalid',
  unknown_product: 'invalid',
  payload_too_large: 'invalid',
  unsupported_media_type: 'invalid',
  idempotency_key_reused: 'invalid',
  unauthorized: 'invalid',
  forbidden: 'invalid',
  unavailable: 'unavailable',
  lock_unavailable: 'unavailable',
  lease_lost: 'unavailable',
};

/** The outcome of a refused `POST /orders`, from the error code it was answered with. */
export const doorOutcomeOf = (code: string): DoorOutcome =>
  (Object.hasOwn(OUTCOME_OF_CODE, code) ? OUTCOME_OF_CODE[code as ErrorCode] : undefined) ?? 'other';

export const noDoorCounts = (): DoorCounts => ({
  requests: 0,
  orders: Object.fromEntries(DOOR_OUTCOMES.map((outcome) => [outcome, 0])) as Record<DoorOutcome, number>,
});

/**
 * The door counts, read off the API's own counters (`flashline_http_requests_total`,
 * `flashline_orders_accepted_total`, `flashline_orders_refused_total`): the request path counts
 * nothing more than it did; this runs once per publication.
 */
export async function doorCountsOf(metrics: ApiMetrics): Promise<DoorCounts> {
  const counts = noDoorCounts();
  const [requests, accepted, refused] = await Promise.all([
    metrics.httpRequests.get(),
    metrics.ordersAccepted.get(),
    metrics.ordersRefused.get(),
  ]);
  for (const { value } of requests.values) counts.requests += value;
  for (const { value } of accepted.values) counts.orders.accepted += value;
  for (const { value, labels } of refused.values) counts.orders[doorOutcomeOf(String(labels.code))] += value;
  return counts;
}

/** A name for one API (an app: a test may run two in one process), unique across restarts. */
export const newApiId = (): string => `${processName()}:${randomBytes(3).toString('hex')}`;

/**
 * Publishes this API's door counts every `intervalMs` (one MULTI on a timer, never a Redis call per
 * request), so the dashboard sums every API process on every machine. Stops when the connection
 * ends for good (the API's shutdown quits it): the copy then expires, five intervals after its last
 * write (a process that dies drops out the same way). A failure is logged at most
 * once a minute: Redis down or full is reported by everything else already.
 */
export function publishDoorCounts(
  redis: RedisClient,
  keys: Keys,
  metrics: ApiMetrics,
  log: Logger,
  { intervalMs = 1000, id = newApiId() }: { intervalMs?: number; id?: string } = {},
): () => void {
  const startedAt = Date.now();
  const copy = { key: keys.apiDoor(id), set: keys.metricsApis(), id };
  const write = async () => {
    const counts = await doorCountsOf(metrics);
    return JSON.stringify({ id, startedAt, at: Date.now(), ...counts } satisfies DoorCopy);
  };
  let loggedAt = -Infinity;
  const onError = (error: unknown) => {
    if (Date.now() - loggedAt < 60_000) return;
    loggedAt = Date.now();
    log('warn', 'door counts not published (the sale panel misses this API process)', errorFields(error));
  };
  const stop = publishCopy(redis, copy, write, onError, { intervalMs, ttlMs: 5 * intervalMs });
  redis.once('end', stop);
  return stop;
}

/** The copies of the live API processes (those that wrote within `maxAgeMs`); a malformed one is left out. */
export async function readDoorCounts(
  redis: RedisClient,
  keys: Keys,
  maxAgeMs = 5000,
  now = Date.now(),
): Promise<DoorCopy[]> {
  const copies = await readCopies(redis, keys.metricsApis(), keys.apiDoor, maxAgeMs, now);
  return copies.flatMap(({ copy }) => {
    const parsed = parseCopy(copy);
    return parsed ? [parsed] : [];
  });
}

function parseCopy(json: string): DoorCopy | undefined {
  try {
    const copy = JSON.parse(json) as Partial<DoorCopy>;
    const numbers = [copy.startedAt, copy.at, copy.requests, ...DOOR_OUTCOMES.map((o) => copy.orders?.[o])];
    if (typeof copy.id !== 'string' || !numbers.every((n) => typeof n === 'number' && Number.isFinite(n)))
      return undefined;
    return copy as DoorCopy;
  } catch {
    return undefined;
  }
}

/** Sums counts (of several processes). */
export function sumDoorCounts(counts: readonly DoorCounts[]): DoorCounts {
  const sum = noDoorCounts();
  for (const one of counts) {
    sum.requests += one.requests;
    for (const outcome of DOOR_OUTCOMES) sum.orders[outcome] += one.orders[outcome];
  }
  return sum;
}
