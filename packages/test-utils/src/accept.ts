import type { Queue } from 'bullmq';
import {
  createOrderAcceptor,
  onePartition,
  type OrdersJobData,
  type AcceptSettings,
  type OrderAcceptor,
  type OrderRequest,
  type OrderStatus,
} from '@flashline/core';

type AcceptorDeps = Parameters<typeof createOrderAcceptor>[0];

/**
 * An acceptor for tests that drive the accept path without HTTP: no sold-out memory and no per-user
 * limit unless a test asks for them, so that every order reaches Redis. A test's one `queue` is taken
 * as the only partition.
 */
export function testAcceptor(
  deps: Omit<AcceptorDeps, 'queues'> & ({ queues: AcceptorDeps['queues'] } | { queue: Queue<OrdersJobData> }),
  settings: Partial<AcceptSettings> = {},
): OrderAcceptor {
  const queues = 'queues' in deps ? deps.queues : onePartition(deps.queue);
  return createOrderAcceptor(
    { redis: deps.redis, keys: deps.keys, queues },
    {
      idempotencyTtlS: 60,
      acceptBatch: 64,
      soldOutMemoryMs: 0,
      rateLimit: { perUser: 0, windowMs: 1000 },
      ...settings,
    },
  );
}

/** Accepts an order, or throws the AppError it was refused with (what the API would answer). */
export async function acceptOrThrow(
  acceptor: OrderAcceptor,
  request: OrderRequest,
  idempotencyKey?: string,
): Promise<{ orderId: string; status: OrderStatus }> {
  const outcome = await acceptor.accept(request, idempotencyKey);
  switch (outcome.kind) {
    case 'accepted':
      return { orderId: outcome.orderId, status: outcome.status };
    case 'refused':
      throw outcome.error;
  }
}
