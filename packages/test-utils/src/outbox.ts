import type { Keys, OrderEventType, RedisClient } from '@flashline/core';

/** One order's state change as the commit scripts write it to the outbox (keys.ts, `outbox`). */
export interface OutboxEvent {
  orderId: string;
  productId: string;
  userId: string;
  quantity: number;
  type: OrderEventType;
  /** The order's event sequence number: 1 for its first event. */
  seq: number;
  /** Epoch ms of the change (and of its time field: decidedAt, confirmedAt, ...). */
  at: number;
  createdAt?: number;
  reason?: string;
}

const timeField: Record<OrderEventType, string> = {
  'order.reserved': 'decidedAt',
  'order.confirmed': 'decidedAt',
  'order.rejected': 'decidedAt',
  'order.cancelled': 'cancelledAt',
  'order.expired': 'expiredAt',
};

/** The entry's fields in the contract's order: event, type, at, then the order hash's fields. */
export function outboxFields(event: OutboxEvent): (string | number)[] {
  const status = event.type.slice('order.'.length);
  const fields: (string | number)[] = [
    'event',
    `${event.orderId}.${event.seq}`,
    'type',
    event.type,
    'at',
    event.at,
    'productId',
    event.productId,
    'userId',
    event.userId,
    'quantity',
    event.quantity,
    'status',
    status,
  ];
  if (event.reason) fields.push('reason', event.reason);
  fields.push('createdAt', event.createdAt ?? event.at - 5, timeField[event.type], event.at, 'seq', event.seq);
  return fields;
}

/**
 * XADDs events to their products' group outboxes exactly as the state-changing scripts will (until
 * they do, tests write them so), pipelined: one round trip per call on a single Redis, and on a
 * cluster one per group. Returns the event ids.
 */
export async function writeOutboxEvents(
  redis: RedisClient,
  keys: Keys,
  events: readonly OutboxEvent[],
): Promise<string[]> {
  const byStream = new Map<string, OutboxEvent[]>();
  for (const event of events) {
    const key = keys.outbox(keys.group(event.productId));
    byStream.set(key, [...(byStream.get(key) ?? []), event]);
  }
  await Promise.all(
    [...byStream].map(async ([key, list]) => {
      const pipeline = redis.pipeline();
      for (const event of list) pipeline.xadd(key, '*', ...outboxFields(event));
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
    }),
  );
  return events.map((event) => `${event.orderId}.${event.seq}`);
}

/** `count` events of `products` products (`p0`, `p1`, ...), each order's first (`order.confirmed`, seq 1). */
export function manyEvents(count: number, products = 50, at = Date.now()): OutboxEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    orderId: `p${i % products}.o${i}`,
    productId: `p${i % products}`,
    userId: `buyer${i % 97}`,
    quantity: 1 + (i % 3),
    type: 'order.confirmed',
    seq: 1,
    at: at + i,
  }));
}
