import { createHmac, randomBytes } from 'node:crypto';

// Fields a viewer may read as they are. Anything else a job carries, now or in a future version,
// is hidden by default: a new field has to be added here to be shown.
const shown = new Set(['orderId', 'productId', 'quantity']);
// A webhook job's event (WebhookJob): its id, type and time as they are; its order's fields as an order's,
// with its state and times shown too.
const shownOfEvent = new Set(['event', 'type', 'at']);
const shownOfEventOrder = new Set([
  ...shown,
  'status',
  'reason',
  'createdAt',
  'decidedAt',
  'holdExpiresAt',
  'confirmedAt',
  'cancelledAt',
  'expiredAt',
  'seq',
]);

/**
 * What a viewer sees of an order job (one order, or a batch of them) or a webhook job: the buyer's id replaced by a pseudonym, other unknown
 * fields hidden. The pseudonym is an HMAC under a key drawn at start-up: stable while the
 * dashboard runs (one buyer's orders can be told apart from another's), but not a plain hash a
 * viewer could reverse by hashing guessed user ids.
 */
export function createJobDataRedactor(key: Buffer = randomBytes(32)): (data: unknown) => unknown {
  const pseudonym = (userId: string) => `user-${createHmac('sha256', key).update(userId).digest('hex').slice(0, 10)}`;
  const redactFields = (data: unknown, visible: ReadonlySet<string>): unknown => {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return '[redacted]';
    return Object.fromEntries(
      Object.entries(data).map(([field, value]) => {
        if (field === 'userId') return [field, typeof value === 'string' ? pseudonym(value) : '[redacted]'];
        return [field, visible.has(field) ? value : '[redacted]'];
      }),
    );
  };
  const redactOrder = (data: unknown) => redactFields(data, shown);
  // A batch job (`{ orders: [...] }`): each of its orders redacted alike, nothing else shown.
  return (data) => {
    if (
      data !== null &&
      typeof data === 'object' &&
      'orders' in data &&
      Array.isArray(data.orders) &&
      Object.keys(data).length === 1
    ) {
      return { orders: data.orders.map(redactOrder) };
    }
    // A webhook job (`{ event, type, at, order }`): the order's buyer pseudonymized like an order job's.
    if (data !== null && typeof data === 'object' && 'event' in data && 'order' in data) {
      const { order, ...event } = data;
      return { ...(redactFields(event, shownOfEvent) as object), order: redactFields(order, shownOfEventOrder) };
    }
    return redactOrder(data);
  };
}
