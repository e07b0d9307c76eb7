import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrdersJobData } from '../queue/ordersQueue.ts';
import { AcceptBatcher, refusal } from './acceptBatcher.ts';
import type { OrderStatus } from './order.ts';
import { newOrderId } from './orderId.ts';
import type { OrderRequest } from './schemas.ts';
import type { SoldOutMemory } from '../products/soldOutMemory.ts';

export interface AcceptDeps {
  redis: Redis;
  keys: Keys;
  /** Records and enqueues the orders that arrive together as one batch. */
  batcher: AcceptBatcher;
  idempotencyTtlS: number;
  /** Answers sold-out products from memory; absent, every order asks Redis. */
  soldOut?: SoldOutMemory;
}

/** The accept path's dependencies, with its batcher; `acceptBatch` is `ACCEPT_BATCH` (default 64). */
export function createAcceptDeps(options: {
  redis: Redis;
  keys: Keys;
  queue: Queue<OrdersJobData>;
  idempotencyTtlS: number;
  acceptBatch?: number;
  soldOut?: SoldOutMemory;
}): AcceptDeps {
  const { queue, acceptBatch, ...rest } = options;
  return {
    ...rest,
    batcher: new AcceptBatcher({ redis: rest.redis, keys: rest.keys, queue, maxBatch: acceptBatch ?? 64 }),
  };
}

export interface Accepted {
  orderId: string;
  status: OrderStatus;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * Turns a valid request into a durably queued order. Every step is idempotent, so a retried
 * request, or a command ioredis re-sends after a lost reply, never makes a second order:
 *  1. with an Idempotency-Key, `SET NX GET` binds the key to one order id and body fingerprint;
 *  2. `acceptOrders` records the order (or finds it) after checking the product and its stock,
 *     together with the other orders this process received meanwhile (AcceptBatcher);
 *  3. the batch's job is added (a lone order's under its own id, which BullMQ ignores when the
 *     job already exists; an order still queued rides in the new job too: decided once).
 * Only then does the caller answer 202.
 */
export async function acceptOrder(deps: AcceptDeps, request: OrderRequest, idempotencyKey?: string): Promise<Accepted> {
  if (deps.soldOut?.refuses(request.productId, request.quantity)) {
    // A retry of an order already recorded must find its order, sold out or not: only a key
    // never seen is refused from memory (one plain GET, no script, nothing written).
    const replay =
      idempotencyKey !== undefined && (await deps.redis.exists(deps.keys.idempotency(sha256(idempotencyKey)))) === 1;
    if (!replay) throw soldOutError(request);
  }
  const orderId =
    idempotencyKey === undefined
      ? newOrderId(request.productId)
      : await claimIdempotencyKey(deps, request, idempotencyKey);
  const recorded = await deps.batcher.record({ orderId, ...request });
  if (recorded === 'unknown_product' || recorded === 'sold_out') {
    if (recorded === 'sold_out') deps.soldOut?.remember(request.productId, request.quantity);
    throw refusal(recorded, request);
  }
  return { orderId, status: recorded };
}

/** `409 sold_out` for this request: the product has fewer than `quantity` units left. */
export const soldOutError = (request: OrderRequest): AppError => refusal('sold_out', request);

async function claimIdempotencyKey(deps: AcceptDeps, request: OrderRequest, idempotencyKey: string): Promise<string> {
  const fingerprint = sha256(JSON.stringify([request.productId, request.userId, request.quantity]));
  const candidate = `${newOrderId(request.productId)} ${fingerprint}`;
  const previous = await deps.redis.set(
    deps.keys.idempotency(sha256(idempotencyKey)),
    candidate,
    'EX',
    deps.idempotencyTtlS,
    'NX',
    'GET',
  );
  const [orderId, storedFingerprint] = (previous ?? candidate).split(' ');
  if (storedFingerprint !== fingerprint) {
    throw new AppError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
  }
  return orderId!;
}
