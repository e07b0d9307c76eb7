import { orderFromFields, type Order, type OrderEventType } from '../orders/order.ts';

/**
 * One outbox entry as a job of the webhooks queue (job id = `event`): its fields as the script wrote
 * them, the order's under `order`. The body is built from it at each attempt.
 */
export interface WebhookJob {
  /** The stable event id, `<orderId>.<seq>`: the receiver dedups on it. */
  event: string;
  type: string;
  /** Epoch ms of the change. */
  at: string;
  /** The order hash's fields as the change left them (`seq` among them). */
  order: Record<string, string>;
}

/** What the receiver gets (docs/webhooks.md). */
export interface WebhookEvent {
  id: string;
  type: OrderEventType;
  createdAt: string;
  sequence: number;
  data: { order: Order };
}

const EVENT_TYPES: ReadonlySet<string> = new Set<OrderEventType>([
  'order.reserved',
  'order.confirmed',
  'order.rejected',
  'order.cancelled',
  'order.expired',
]);

/** An outbox entry's flat field list (`XREAD`'s `[name, value, ...]`) as a job; null when it names no event. */
export function jobOfEntry(fields: readonly string[]): WebhookJob | null {
  const order: Record<string, string> = {};
  const head: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name === 'event' || name === 'type' || name === 'at') head[name] = value;
    else order[name] = value;
  }
  // A job id may not hold `:` (BullMQ refuses it, and with it the whole batch): such an entry is malformed.
  if (!head.event || !/^[A-Za-z0-9_.-]{1,200}$/.test(head.event) || !head.type || !head.at) return null;
  return { event: head.event, type: head.type, at: head.at, order };
}

/** The event's order id: the event id without its `.<seq>`. */
const orderIdOf = (event: string) => event.slice(0, event.lastIndexOf('.'));

/** The event a job stands for, or null when its fields are not a whole order event (retrying cannot help). */
export function eventOf(job: WebhookJob): WebhookEvent | null {
  const sequence = Number(job.order.seq);
  const at = Number(job.at);
  const order = orderFromFields(orderIdOf(job.event), job.order);
  if (!order || !EVENT_TYPES.has(job.type) || !Number.isSafeInteger(sequence) || !Number.isFinite(at)) return null;
  if (job.event !== `${order.orderId}.${sequence}`) return null;
  return {
    id: job.event,
    type: job.type as OrderEventType,
    createdAt: new Date(at).toISOString(),
    sequence,
    data: { order },
  };
}
