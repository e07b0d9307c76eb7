import type { RedisClient } from '../redis/connect.ts';
import type { Config } from '../config/config.ts';
import { sha256Url } from '../crypto/digest.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import { rateLimitedError, type RateLimit } from '../limits/rateLimiter.ts';
import { SoldOutMemory } from '../products/soldOutMemory.ts';
import type { OrdersQueues } from '../queue/ordersQueue.ts';
import { AcceptBatcher, type AcceptEntry, type Accepted } from './acceptBatcher.ts';
import { KeyLookups, parseBinding } from './keyLookups.ts';
import type { OrderStatus } from './order.ts';
import { newOrderId } from './orderId.ts';
import type { OrderRequest } from './schemas.ts';
import type { Replication } from '../redis/replication.ts';

/** The settings the accept policy reads (from the config, or a test's own). */
export type AcceptSettings = Pick<Config, 'idempotencyTtlS' | 'acceptBatch' | 'soldOutMemoryMs'> & {
  rateLimit: Pick<Config['rateLimit'], 'perUser' | 'windowMs'>;
  /** Accept in the cluster's steps even on a single Redis (tests run both ways); default: on a cluster only. */
  acceptInSteps?: boolean;
  /** REDIS_WAIT_REPLICAS: none by default. */
  replication?: Replication;
};

/**
 * What became of a valid `POST /orders`: accepted (the order is durably queued, or was already
 * known under its Idempotency-Key), or refused with the error the buyer gets and nothing written.
 * Redis failing is neither: `accept` rejects, and the caller answers 503.
 */
export type AcceptOutcome =
  | { kind: 'accepted'; orderId: string; status: OrderStatus }
  /** `fromMemory`: refused in the request's own turn, without a Redis call (this process's sold-out memory). */
  | { kind: 'refused'; error: AppError; retryAfterS?: number; fromMemory?: true };

export interface OrderAcceptor {
  accept(request: OrderRequest, idempotencyKey?: string): Promise<AcceptOutcome>;
  /** Its batcher: jobs added and orders they carried, for the bench and tests. */
  readonly batcher: AcceptBatcher;
}

/**
 * The whole policy of accepting an order, in one pass, each check made once:
 *  1. a product known sold out (this process's memory) is refused with no Redis call, unless the
 *     request carries an Idempotency-Key: then only the key is read (KeyLookups: a retry must find
 *     its order, sold out or not), and nothing is counted or written;
 *  2. otherwise the request joins this process's accept batch (AcceptBatcher), whose steps check and
 *     write, for each request: the Idempotency-Key (the buyer's own: a retry gets its order, another
 *     body `idempotency_key_reused`) and the buyer's per-user limit, claimed; then the product and its
 *     stock, and the order recorded; a refused request's claim given back; the batch's jobs added; a
 *     product Redis finds sold out is remembered.
 * So only accepted requests spend the per-user limit, and a refused one binds no key: nobody locks a
 * buyer out with requests that are refused (an unknown product, a sold-out one), and fresh keys for
 * refused requests leave nothing behind. Every step is idempotent, so a retried request, or a command
 * ioredis re-sends after a lost reply, never makes a second order nor counts one twice; `accepted`
 * only comes once the order is recorded and its job added.
 */
export function createOrderAcceptor(
  deps: { redis: RedisClient; keys: Keys; queues: OrdersQueues },
  settings: AcceptSettings,
): OrderAcceptor {
  const { keys } = deps;
  const perUser: RateLimit = {
    scope: 'user',
    limit: settings.rateLimit.perUser,
    windowMs: settings.rateLimit.windowMs,
  };
  const batcher = new AcceptBatcher({
    ...deps,
    maxBatch: settings.acceptBatch,
    perUser,
    idempotencyTtlS: settings.idempotencyTtlS,
    ...(settings.acceptInSteps === undefined ? {} : { inSteps: settings.acceptInSteps }),
    ...(settings.replication ? { replication: settings.replication } : {}),
  });
  const soldOut = settings.soldOutMemoryMs > 0 ? new SoldOutMemory(settings.soldOutMemoryMs) : undefined;

  const lookups = new KeyLookups(deps.redis, settings.acceptBatch);

  // An Idempotency-Key is the buyer's own: another buyer's `cart-42` is another key.
  const keyOf = (request: OrderRequest, idempotencyKey: string) =>
    keys.idempotency(request.userId, sha256Url(`${request.userId}\n${idempotencyKey}`));
  const fingerprintOf = (request: OrderRequest) =>
    sha256Url(JSON.stringify([request.productId, request.userId, request.quantity]));

  async function accept(request: OrderRequest, idempotencyKey?: string): Promise<AcceptOutcome> {
    if (soldOut?.refuses(request.productId, request.quantity)) {
      if (idempotencyKey === undefined) return { kind: 'refused', error: soldOutError(request), fromMemory: true };
      return retryWhenSoldOut(request, keyOf(request, idempotencyKey));
    }
    const entry: AcceptEntry = {
      order: { orderId: newOrderId(request.productId), ...request },
      ...(idempotencyKey === undefined
        ? {}
        : { idempotency: { key: keyOf(request, idempotencyKey), fingerprint: fingerprintOf(request) } }),
      ...(perUser.limit === 0 ? {} : { counter: keys.rateLimit('user', request.userId) }),
    };
    return outcomeOf(request, await batcher.record(entry));
  }

  /**
   * A keyed request for a product this process knows sold out: a retry of an order accepted before
   * gets that order, anything else `409 sold_out` (or `idempotency_key_reused`), nothing counted or
   * written. One batched read; the body's digest only when the key is bound.
   */
  async function retryWhenSoldOut(request: OrderRequest, key: string): Promise<AcceptOutcome> {
    const binding = await lookups.get(key);
    if (binding === null) return refused(soldOutError(request));
    const fingerprint = fingerprintOf(request);
    const bound = parseBinding(binding);
    if (bound.fingerprint !== fingerprint) return outcomeOf(request, { kind: 'reused' });
    // The order's status, through the accept call: it finds the order and changes nothing.
    const order = { orderId: bound.orderId, ...request };
    return outcomeOf(request, await batcher.record({ order, idempotency: { key, fingerprint } }), true);
  }

  function outcomeOf(request: OrderRequest, accepted: Accepted, knownSoldOut = false): AcceptOutcome {
    switch (accepted.kind) {
      case 'recorded':
        return { kind: 'accepted', orderId: accepted.orderId, status: accepted.status };
      case 'sold_out':
        if (!knownSoldOut) soldOut?.remember(request.productId, request.quantity);
        return refused(soldOutError(request));
      case 'unknown_product':
        return refused(new AppError('unknown_product', `product ${request.productId} does not exist`));
      case 'reused':
        return refused(
          new AppError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body'),
        );
      case 'rate_limited': {
        const retryAfterS = Math.ceil(accepted.retryInMs / 1000);
        return { kind: 'refused', error: rateLimitedError(perUser, retryAfterS), retryAfterS };
      }
      case 'not_open': {
        const retryAfterS = Math.ceil(accepted.opensInMs / 1000);
        const error = new AppError('sale_not_open', `the sale of ${request.productId} opens in ${retryAfterS} s`);
        return { kind: 'refused', error, retryAfterS };
      }
      case 'closed':
        return refused(new AppError('sale_closed', `the sale of ${request.productId} has closed`));
    }
  }

  return { accept, batcher };
}

const refused = (error: AppError): AcceptOutcome => ({ kind: 'refused', error });

/** `409 sold_out` for this request: the product has fewer than `quantity` units left. */
function soldOutError(request: OrderRequest): AppError {
  return new AppError(
    'sold_out',
    `product ${request.productId} is sold out (fewer than ${request.quantity} units left)`,
  );
}
