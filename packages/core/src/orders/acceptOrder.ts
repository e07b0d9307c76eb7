import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import type { OrderStatus } from './order.ts';
import { newOrderId } from './orderId.ts';
import type { OrderRequest } from './schemas.ts';
import type { SoldOutMemory } from '../products/soldOutMemory.ts';

export interface AcceptDeps {
  redis: Redis;
  keys: Keys;
  queue: Queue<OrderJob>;
  idempotencyTtlS: number;
  /** Answers sold-out products from memory; absent, every order asks Redis. */
  soldOut?: SoldOutMemory;
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
 *  2. `acceptOrder` records the order (or finds it) after checking the product and its stock;
 *  3. the job is added under the order id, which BullMQ ignores when the job already exists.
 * Only then does the caller answer 202.
 */
export async function acceptOrder(deps: AcceptDeps, request: OrderRequest, idempotencyKey?: string): Promise<Accepted> {
  if (deps.soldOut?.refuses(request.productId, request.quantity)) {
    // A retry of an order already recorded must find its order, sold out or not: only a key
    // never seen is refused from memory (one plain GET, no script, nothing written).
    const replay = idempotencyKey !== undefined && (await deps.redis.exists(deps.keys.idempotency(sha256(idempotencyKey)))) === 1;
    if (!replay) throw soldOutError(request);
  }
  const orderId = idempotencyKey === undefined ? newOrderId(request.productId) : await claimIdempotencyKey(deps, request, idempotencyKey);
  const { redis, keys } = deps;
  const reply = await redis.acceptOrder(
    keys.product(request.productId),
    keys.order(request.productId, orderId),
    keys.pending(request.productId),
    request.productId,
    request.userId,
    request.quantity,
    Date.now(),
  );
  if (reply === -1) throw new AppError('unknown_product', `product ${request.productId} does not exist`);
  if (reply === -2) {
    deps.soldOut?.remember(request.productId, request.quantity);
    throw soldOutError(request);
  }
  const status = reply as OrderStatus;
  if (status === 'queued') {
    await deps.queue.add('order', { orderId, ...request }, { jobId: orderId });
  }
  return { orderId, status };
}

/** `409 sold_out` for this request: the product has fewer than `quantity` units left. */
export const soldOutError = (request: OrderRequest): AppError =>
  new AppError('sold_out', `product ${request.productId} is sold out (fewer than ${request.quantity} units left)`);

async function claimIdempotencyKey(deps: AcceptDeps, request: OrderRequest, idempotencyKey: string): Promise<string> {
  const fingerprint = sha256(JSON.stringify([request.productId, request.userId, request.quantity]));
  const candidate = `${newOrderId(request.productId)} ${fingerprint}`;
  const previous = await deps.redis.set(deps.keys.idempotency(sha256(idempotencyKey)), candidate, 'EX', deps.idempotencyTtlS, 'NX', 'GET');
  const [orderId, storedFingerprint] = (previous ?? candidate).split(' ');
  if (storedFingerprint !== fingerprint) {
    throw new AppError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
  }
  return orderId!;
}
