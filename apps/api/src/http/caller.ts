import type { Request } from 'express';
import { AppError, bearerToken, secretMatcher, type Order } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';
import { buyerTokenVerifier } from './buyerToken.ts';

/** Who sent a request to the order routes: the admin (ADMIN_TOKEN), a buyer named by a token, or nobody known. */
export type Caller = { kind: 'admin' } | { kind: 'buyer'; userId: string } | { kind: 'anonymous' };

export interface Callers {
  /** True with BUYER_TOKEN_*: a buyer is a token's `sub`, never a body's word. */
  readonly buyerTokens: boolean;
  /**
   * Who the `Authorization: Bearer` header names. With buyer tokens, a bearer that is neither the
   * admin token nor a valid buyer token, or none at all, is `401 unauthorized`; without, anything
   * but the admin token is anonymous.
   */
  of(req: Request): Promise<Caller>;
}

const ADMIN: Caller = Object.freeze({ kind: 'admin' });
const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' });

export function createCallers({ config }: ApiDeps): Callers {
  const isAdminToken = secretMatcher(config.adminToken);
  const verify = config.buyerTokens === undefined ? undefined : buyerTokenVerifier(config.buyerTokens);
  return {
    buyerTokens: verify !== undefined,
    async of(req) {
      const token = bearerToken(req.get('authorization'));
      if (token !== undefined && isAdminToken(token)) return ADMIN;
      if (verify === undefined) return ANONYMOUS;
      if (token === undefined) throw new AppError('unauthorized', 'send Authorization: Bearer <buyer token>');
      return { kind: 'buyer', userId: await verify(token) };
    },
  };
}

/**
 * What `GET /orders/:id` shows `caller` of `order`: undefined when it must look as if there were no
 * such order (another buyer's). The buyer id is shown only to its buyer and the admin: an order id
 * (which the dashboard's viewer sees) must never turn into a buyer id.
 */
export function orderSeenBy(caller: Caller, order: Order): Order | Omit<Order, 'userId'> | undefined {
  switch (caller.kind) {
    case 'admin':
      return order;
    case 'buyer':
      return caller.userId === order.userId ? order : undefined;
    case 'anonymous':
      return withoutBuyer(order);
  }
}

/**
 * The fields anyone holding an order id may read: its decision, never its buyer. Listed, not
 * subtracted, so a field added to orders later stays hidden until someone decides it is public.
 * (An absent reason, decidedAt or hold time is undefined here, and JSON leaves it out.)
 */
function withoutBuyer(order: Order): Omit<Order, 'userId'> {
  const { orderId, productId, quantity, status, reason, createdAt, decidedAt } = order;
  const { holdExpiresAt, confirmedAt, cancelledAt, expiredAt } = order;
  return {
    orderId,
    productId,
    quantity,
    status,
    reason,
    createdAt,
    decidedAt,
    holdExpiresAt,
    confirmedAt,
    cancelledAt,
    expiredAt,
  };
}
