import { Router } from 'express';
import { holdRulesOf, orderIdSchema, settleHold } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';
import { requireAdmin } from '../http/adminAuth.ts';
import { parse } from '../http/validate.ts';

/**
 * The shop's backend ends a held order (a product with holdSeconds): `confirm` once the buyer paid,
 * `cancel` instead. Admin only. A repeat answers 200 with the order as it is; an order that can no
 * longer be ended that way is a 409 that says why (hold_expired, order_cancelled, already_confirmed,
 * not_reserved).
 */
export function holdRoutes({ redis, keys, config, webhookEvents }: ApiDeps): Router {
  const router = Router();
  const admin = requireAdmin(config.adminToken);
  const rules = holdRulesOf(config, webhookEvents);
  for (const action of ['confirm', 'cancel'] as const) {
    router.post(`/orders/:orderId/${action}`, admin, async (req, res) => {
      const orderId = parse(orderIdSchema, req.params.orderId, 'orderId');
      res.json(await settleHold(redis, keys, orderId, action, rules));
    });
  }
  return router;
}
