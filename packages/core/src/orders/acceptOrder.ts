import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { sha256Url } from '../crypto/digest.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import { rateLimitedError, type RateLimit } from '../limits/rateLimiter.ts';
import { SoldOutMemory } from '../products/soldOutMemory.ts';
import type { OrdersJobData } from '../queue/ordersQueue.ts';
import { AcceptBatcher, type AcceptEntry } from './acceptBatcher.ts';
import type { OrderStatus } from './order.ts';
import { newOrderId } from './orderId.ts';
import type { OrderRequest } from './schemas.ts';

/** The settings the accept policy reads (from the config, or a test's own). */
export type AcceptSettings = Pick<Config, 'idempotencyTtlS' | 'acceptBatch' | 'soldOutMemoryMs'> & {
  rateLimit: Pick<Config['rateLimit'], 'perUser' | 'windowMs'>;
};

/**
 * What became of a valid `POST /orders`: accepted (the order is durably queued, or was already
 * known under its Idempotency-Key), or refused with the error the buyer gets and nothing written.
 * Redis failing is neither: `accept` rejects, and the caller answers 503.
 */
export type AcceptOutcome =
  | { kind: 'accepted'; orderId: string; status: OrderStatus }
  | { kind: 'refused'; error: AppError; retryAfterS?: number };

export interface OrderAcceptor {
  accept(request: OrderRequest, idempotencyKey?: string): Promise<AcceptOutcome>;
  /** Its batcher: jobs added and orders they carried, for the bench and tests. */
  readonly batcher: AcceptBatcher;
}

/**
 * The whole policy of accepting an order, in one pass, each check made once:
 *  1. a product known sold out (this process's memory) is refused with no Redis call, unless the
 *     request carries an Idempotency-Key: then only the key is looked up (a retry must find its
 *     order, sold out or not), in the batch, and nothing is counted or written;
 *  2. otherwise the request joins this process's accept batch (AcceptBatcher), whose one script call
 *     (lua/acceptBatch-n.lua) checks and writes together, for each request: the Idempotency-Key (the
 *     buyer's own: a retry gets its order, another body `idempotency_key_reused`), the buyer's
 *     per-user limit, the product and its stock; then records the order, binds the key and counts the
 *     request; the batch's job is added; a product Redis finds sold out is remembered.
 * So only accepted requests spend the per-user limit, and a refused one binds no key: nobody locks a
 * buyer out with requests that are refused (an unknown product, a sold-out one), and fresh keys for
 * refused requests leave nothing behind. Every step is idempotent, so a retried request, or a command
 * ioredis re-sends after a lost reply, never makes a second order nor counts one twice; `accepted`
 * only comes once the order is recorded and its job added.
 */
export function createOrderAcceptor(
  deps: { redis: Redis; keys: Keys; queue: Queue<OrdersJobData> },
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
  });
  const soldOut = settings.soldOutMemoryMs > 0 ? new SoldOutMemory(settings.soldOutMemoryMs) : undefined;

  // An Idempotency-Key is the buyer's own: another buyer's `cart-42` is another key.
  const idempotencyOf = (request: OrderRequest, idempotencyKey: string) => ({
    key: keys.idempotency(sha256Url(`${request.userId}\n${idempotencyKey}`)),
    fingerprint: sha256Url(JSON.stringify([request.productId, request.userId, request.quantity])),
  });

  async function accept(request: OrderRequest, idempotencyKey?: string): Promise<AcceptOutcome> {
    const knownSoldOut = soldOut?.refuses(request.productId, request.quantity) ?? false;
    if (knownSoldOut && idempotencyKey === undefined) return refused(soldOutError(request));
    const entry: AcceptEntry = {
      order: { orderId: newOrderId(request.productId), ...request },
      ...(idempotencyKey === undefined ? {} : { idempotency: idempotencyOf(request, idempotencyKey) }),
      // Not counted when the memory refuses it: the sold-out storm spends nobody's limit.
      ...(perUser.limit === 0 || knownSoldOut ? {} : { counter: keys.rateLimit('user', request.userId) }),
      ...(knownSoldOut ? { lookupOnly: true } : {}),
    };
    const accepted = await batcher.record(entry);
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
