import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import { AppError } from '../errors/appError.ts';
import { decodeExpireHolds, decodeSettleHold, type ExpireHoldsReply } from '../redis/replies.ts';
import { orderFromFields, type Order } from './order.ts';
import { productOfOrder } from './orderId.ts';
import type { Config } from '../config/config.ts';
import { waitForReplicas, type Replication } from '../redis/replication.ts';
import type { WebhookEvents } from '../webhooks/systemSetting.ts';

/** What the scripts that end holds need to know: how long an ended order is kept, and whether to write webhook events. */
export interface HoldRules {
  orderRetentionMs: number;
  /** The system's webhooks are on: each change is written to the webhook outbox in the same script (read at each call). */
  readonly events: boolean;
  /** The same, read fresh (at most a second old) before each call: an idle API reads nothing. */
  readonly eventsNow?: () => Promise<boolean>;
  /**
   * FLASHLINE_BREAK=holds, for the fault tests' negative control only (refused in production): confirm
   * and cancel skip their compare-and-set and end a hold whatever it became (expired, cancelled).
   */
  careless?: boolean;
  /** REDIS_WAIT_REPLICAS: a confirm or cancel answers only once this many replicas hold it. */
  replication?: Replication;
}

/** The most holds one expireHolds call looks at: a call's time stays bounded (about 1 ms per 100). */
export const EXPIRE_HOLDS_PER_CALL = 1000;

const refusals = {
  hold_expired: (id: string) =>
    `order ${id}: its hold expired before it was confirmed, and its units went back to stock (refund the buyer)`,
  order_cancelled: (id: string) => `order ${id} was cancelled: its units went back to stock (refund the buyer)`,
  already_confirmed: (id: string) => `order ${id} is confirmed (paid): it can no longer be cancelled`,
  not_reserved: (id: string) => `order ${id} holds no units: it is still queued, or was rejected`,
} as const;

/**
 * Ends a held order as the shop asks, after payment (`confirm`) or instead of it (`cancel`), in one
 * compare-and-set (lua/settleHold-5.lua): only a `reserved` order before its deadline changes; a
 * repeat answers the order as it is. Throws `not_found`, or the 409 that says why the order cannot.
 */
export async function settleHold(
  redis: RedisClient,
  keys: Keys,
  orderId: string,
  action: 'confirm' | 'cancel',
  rules: HoldRules,
): Promise<Order> {
  const productId = productOfOrder(orderId);
  const notFound = new AppError('not_found', `order ${orderId} does not exist`);
  if (productId === null) throw notFound;
  const events = rules.eventsNow ? await rules.eventsNow() : rules.events;
  const reply = decodeSettleHold(
    await redis.settleHold([
      keys.order(productId, orderId),
      keys.product(productId),
      keys.buyers(productId),
      keys.holds(productId),
      keys.outbox(keys.group(productId)),
      action,
      productId,
      rules.orderRetentionMs,
      events ? '1' : '',
      rules.careless ? 'c' : '',
    ]),
  );
  if (reply.kind === 'not_found') throw notFound;
  // The shop is told "paid" or "cancelled" only once that would outlive the master (a repeat, too:
  // it may be the retry of an answer that was lost with an unreplicated change).
  if (rules.replication) await waitForReplicas(redis, keys, [keys.order(productId, orderId)], rules.replication);
  const order = orderFromFields(orderId, reply.fields);
  if (!order) throw notFound;
  if (reply.kind === 'changed' || reply.kind === 'unchanged') return order;
  throw new AppError(reply.kind, refusals[reply.kind](orderId));
}

/**
 * Ends `expired` the product's holds past their deadline (lua/expireHolds-4.lua), all of them: calls
 * again while a call found as many as it may look at. Safe beside any other caller: each hold ends once.
 */
export async function expireHolds(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  rules: HoldRules,
): Promise<ExpireHoldsReply> {
  let units = 0;
  const events = rules.eventsNow ? await rules.eventsNow() : rules.events;
  for (;;) {
    const reply = decodeExpireHolds(
      await redis.expireHolds([
        keys.product(productId),
        keys.buyers(productId),
        keys.holds(productId),
        keys.outbox(keys.group(productId)),
        rules.orderRetentionMs,
        events ? '1' : '',
        EXPIRE_HOLDS_PER_CALL,
      ]),
    );
    units += reply.units;
    if (reply.looked < EXPIRE_HOLDS_PER_CALL) return { ...reply, units };
  }
}

/**
 * The hold rules every process derives from its config. `events`, the system's webhooks setting
 * (webhooks/systemSetting.ts), is read at each call: while the system's webhooks are on, every change
 * of an order's state is written to its group's outbox in the same script, whether this process has
 * WEBHOOK_URL or not. Without it, this process's own WEBHOOK_URL decides.
 */
export const holdRulesOf = (
  config: Pick<Config, 'orderRetentionMs' | 'brokenOnPurpose' | 'replication' | 'webhooks'>,
  events?: Pick<WebhookEvents, 'on' | 'current'>,
): HoldRules => ({
  orderRetentionMs: config.orderRetentionMs,
  get events() {
    return events ? events.on : config.webhooks !== null;
  },
  ...(events ? { eventsNow: () => events.current() } : {}),
  ...(config.brokenOnPurpose.includes('holds') ? { careless: true } : {}),
  ...(config.replication.replicas > 0 ? { replication: config.replication } : {}),
});
