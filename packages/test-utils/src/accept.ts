import {
  createOrderAcceptor,
  type AcceptSettings,
  type OrderAcceptor,
  type OrderRequest,
  type OrderStatus,
} from '@flashline/core';

/**
 * An acceptor for tests that drive the accept path without HTTP: no sold-out memory and no per-user
 * limit unless a test asks for them, so that every order reaches Redis.
 */
export function testAcceptor(
  deps: Parameters<typeof createOrderAcceptor>[0],
  settings: Partial<AcceptSettings> = {},
): OrderAcceptor {
  return createOrderAcceptor(deps, {
    idempotencyTtlS: 60,
    acceptBatch: 64,
    soldOutMemoryMs: 0,
    rateLimit: { perUser: 0, windowMs: 1000 },
    ...settings,
  });
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
