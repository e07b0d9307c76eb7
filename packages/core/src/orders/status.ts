/**
 * Where an order stands, and why a rejected one was: the words the scripts store and the API shows.
 * `reserved`: won, its units held until the product's payment deadline (holdSeconds); it ends
 * `confirmed` (paid), `cancelled` (the shop called it off) or `expired` (the deadline passed). The
 * other ends are terminal; an order of a product without holdSeconds goes from `queued` straight to
 * `confirmed` or `rejected`.
 */
export type OrderStatus = 'queued' | 'reserved' | 'confirmed' | 'rejected' | 'cancelled' | 'expired';
export type RejectReason = 'sold_out' | 'limit_exceeded' | 'processing_failed';

/** What the commit decides for an order: sold at once, won and held until a deadline (epoch ms), or rejected. */
export type Decision =
  | { status: 'confirmed' }
  | { status: 'reserved'; holdExpiresAt: number }
  | { status: 'rejected'; reason: RejectReason };

/** The webhook event types: one per state an order enters after `queued`. */
export type OrderEventType = `order.${Exclude<OrderStatus, 'queued'>}`;
