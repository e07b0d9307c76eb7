import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { sha256Url } from '../crypto/digest.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import { rateLimitedError, takeRateLimit, type RateLimit } from '../limits/rateLimiter.ts';
import { SoldOutMemory } from '../products/soldOutMemory.ts';
import type { OrdersJobData } from '../queue/ordersQueue.ts';
import { AcceptBatcher } from './acceptBatcher.ts';
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
 *     request carries an Idempotency-Key already bound: a retry must find its order, sold out or not;
 *  2. otherwise the buyer's per-user limit is counted (only for a request that may write);
 *  3. with an Idempotency-Key, `SET NX GET` binds the key to one order id and body fingerprint;
 *  4. `acceptOrders` records the order (or finds it) after checking the product and its stock,
 *     with the other orders this process received meanwhile (AcceptBatcher), and the batch's job is
 *     added; a product Redis finds sold out is remembered.
 * Every step is idempotent, so a retried request, or a command ioredis re-sends after a lost reply,
 * never makes a second order; `accepted` only comes once the order is recorded and its job added.
 */
export function createOrderAcceptor(
  deps: { redis: Redis; keys: Keys; queue: Queue<OrdersJobData> },
  settings: AcceptSettings,
): OrderAcceptor {
  const { redis, keys } = deps;
  const batcher = new AcceptBatcher({ ...deps, maxBatch: settings.acceptBatch });
  const soldOut = settings.soldOutMemoryMs > 0 ? new SoldOutMemory(settings.soldOutMemoryMs) : undefined;
  const perUser: RateLimit = {
    scope: 'user',
    limit: settings.rateLimit.perUser,
    windowMs: settings.rateLimit.windowMs,
  };

  const isBound = async (idempotencyKey: string) =>
    (await redis.exists(keys.idempotency(sha256Url(idempotencyKey)))) === 1;

  async function accept(request: OrderRequest, idempotencyKey?: string): Promise<AcceptOutcome> {
    if (soldOut?.refuses(request.productId, request.quantity)) {
      if (idempotencyKey === undefined || !(await isBound(idempotencyKey))) return refused(soldOutError(request));
    } else {
      const limit = await takeRateLimit(redis, keys, perUser, request.userId);
      switch (limit.kind) {
        case 'allowed':
          break;
        case 'refused': {
          const retryAfterS = Math.ceil(limit.retryInMs / 1000);
          return { kind: 'refused', error: rateLimitedError(perUser, retryAfterS), retryAfterS };
        }
      }
    }
    let orderId = newOrderId(request.productId);
    if (idempotencyKey !== undefined) {
      const claimed = await claimIdempotencyKey(request, idempotencyKey, orderId);
      if (claimed === undefined) {
        return refused(
          new AppError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body'),
        );
      }
      orderId = claimed;
    }
    const recorded = await batcher.record({ orderId, ...request });
    switch (recorded.kind) {
      case 'recorded':
        return { kind: 'accepted', orderId, status: recorded.status };
      case 'sold_out':
        soldOut?.remember(request.productId, request.quantity);
        return refused(soldOutError(request));
      case 'unknown_product':
        return refused(new AppError('unknown_product', `product ${request.productId} does not exist`));
    }
  }

  /** The order id the key is bound to (this one, when the key is new); undefined for another body. */
  async function claimIdempotencyKey(
    request: OrderRequest,
    idempotencyKey: string,
    candidateId: string,
  ): Promise<string | undefined> {
    const fingerprint = sha256Url(JSON.stringify([request.productId, request.userId, request.quantity]));
    const candidate = `${candidateId} ${fingerprint}`;
    const previous = await redis.set(
      keys.idempotency(sha256Url(idempotencyKey)),
      candidate,
      'EX',
      settings.idempotencyTtlS,
      'NX',
      'GET',
    );
    const [orderId, storedFingerprint] = (previous ?? candidate).split(' ');
    return storedFingerprint === fingerprint ? orderId : undefined;
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
