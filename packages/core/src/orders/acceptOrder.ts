import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import { sha256Url } from '../crypto/digest.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import { rateLimitedError, refundRateLimit, takeRateLimit, type RateLimit } from '../limits/rateLimiter.ts';
import { SoldOutMemory } from '../products/soldOutMemory.ts';
import { decodeDeleteIfEquals } from '../redis/replies.ts';
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
 *  3. with an Idempotency-Key (the buyer's own), `SET NX GET` binds it to one order id and body fingerprint;
 *  4. `acceptOrders` records the order (or finds it) after checking the product and its stock,
 *     with the other orders this process received meanwhile (AcceptBatcher), and the batch's job is
 *     added; a product Redis finds sold out is remembered, and a refused request frees the key it bound
 *     and gives back the request it counted.
 * So only accepted requests spend the per-user limit: nobody locks a buyer out with requests that are
 * refused (an unknown product, a sold-out one), and an accepted request still pays a single count.
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

  // An Idempotency-Key is the buyer's own: another buyer's `cart-42` is another key.
  const keyOf = (request: OrderRequest, idempotencyKey: string) =>
    keys.idempotency(sha256Url(`${request.userId}\n${idempotencyKey}`));
  const isBound = async (request: OrderRequest, idempotencyKey: string) =>
    (await redis.exists(keyOf(request, idempotencyKey))) === 1;

  async function accept(request: OrderRequest, idempotencyKey?: string): Promise<AcceptOutcome> {
    // Counted only once it may write: a product this process knows is sold out is refused first, so the
    // sold-out storm spends nobody's limit; a refusal found later gives its count back (refund).
    let counted = false;
    if (soldOut?.refuses(request.productId, request.quantity)) {
      if (idempotencyKey === undefined || !(await isBound(request, idempotencyKey)))
        return refused(soldOutError(request));
    } else {
      const limit = await takeRateLimit(redis, keys, perUser, request.userId);
      switch (limit.kind) {
        case 'allowed':
          counted = true;
          break;
        case 'refused': {
          const retryAfterS = Math.ceil(limit.retryInMs / 1000);
          return { kind: 'refused', error: rateLimitedError(perUser, retryAfterS), retryAfterS };
        }
      }
    }
    const claim = idempotencyKey === undefined ? undefined : await claimIdempotencyKey(request, idempotencyKey);
    if (claim?.kind === 'reused') {
      if (counted) await refund(request);
      return refused(
        new AppError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body'),
      );
    }
    const orderId = claim?.orderId ?? newOrderId(request.productId);
    const recorded = await batcher.record({ orderId, ...request });
    switch (recorded.kind) {
      case 'recorded':
        return { kind: 'accepted', orderId, status: recorded.status };
      case 'sold_out':
        soldOut?.remember(request.productId, request.quantity);
        await Promise.all([release(claim), counted ? refund(request) : undefined]);
        return refused(soldOutError(request));
      case 'unknown_product':
        await Promise.all([release(claim), counted ? refund(request) : undefined]);
        return refused(new AppError('unknown_product', `product ${request.productId} does not exist`));
    }
  }

  /**
   * Gives back the count of a request refused after it was counted. Best effort: the refusal stands
   * if Redis fails here (the count then lapses with its window), rather than turning a 404 or 409 into a 503.
   */
  const refund = (request: OrderRequest) =>
    refundRateLimit(redis, keys, perUser, request.userId).catch(() => undefined);

  /**
   * Binds the key to a new order id and the body's fingerprint (`SET NX GET`), or finds what it is
   * bound to: the same body's order id, or `reused` for another body.
   */
  async function claimIdempotencyKey(request: OrderRequest, idempotencyKey: string): Promise<Claim> {
    const fingerprint = sha256Url(JSON.stringify([request.productId, request.userId, request.quantity]));
    const key = keyOf(request, idempotencyKey);
    const value = `${newOrderId(request.productId)} ${fingerprint}`;
    const previous = await redis.set(key, value, 'EX', settings.idempotencyTtlS, 'NX', 'GET');
    const [orderId = '', storedFingerprint] = (previous ?? value).split(' ');
    if (storedFingerprint !== fingerprint) return { kind: 'reused' };
    return { kind: 'bound', orderId, key, value, now: previous === null };
  }

  /**
   * A refused request leaves nothing behind: the key this request bound is freed (compare-and-delete:
   * never a key that another request bound). A key bound earlier stays: it names a recorded order.
   */
  async function release(claim: Claim | undefined): Promise<void> {
    if (claim?.kind !== 'bound' || !claim.now) return;
    decodeDeleteIfEquals(await redis.deleteIfEquals([claim.key, claim.value]));
  }

  return { accept, batcher };
}

/** What claiming an Idempotency-Key found: bound (`now`: by this request) to an order id, or used for another body. */
type Claim = { kind: 'bound'; orderId: string; key: string; value: string; now: boolean } | { kind: 'reused' };

const refused = (error: AppError): AcceptOutcome => ({ kind: 'refused', error });

/** `409 sold_out` for this request: the product has fewer than `quantity` units left. */
function soldOutError(request: OrderRequest): AppError {
  return new AppError(
    'sold_out',
    `product ${request.productId} is sold out (fewer than ${request.quantity} units left)`,
  );
}
