import { setImmediate as nextTurn } from 'node:timers/promises';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import {
  AppError,
  createOrderAcceptor,
  getOrder,
  idempotencyKeySchema,
  isDecided,
  orderRequestSchema,
  tokenOrderRequestSchema,
  type Order,
  type OrderRequest,
} from '@flashline/core';
import type { ApiDeps } from '../deps.ts';
import { createCallers, orderSeenBy, type Caller } from '../http/caller.ts';
import { sendError, sendJson } from '../http/errors.ts';
import { jsonBody, parse } from '../http/validate.ts';

const orderIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'is not an order id');
/** `?wait=`: whole seconds, 1 to 30, written plainly (no sign, no leading zero, once). */
const waitSchema = z
  .string('must be given once')
  .regex(/^(?:[1-9]|[12]\d|30)$/, 'must be a whole number of seconds from 1 to 30');

export function orderRoutes(deps: ApiDeps): Router {
  const router = Router();
  const requestSchema = orderRequestSchema(deps.config.maxQuantity);
  const tokenRequestSchema = tokenOrderRequestSchema(deps.config.maxQuantity);
  const acceptor = createOrderAcceptor(deps, deps.config);
  const callers = createCallers(deps);

  /**
   * The order a request asks for, for whom. Without buyer tokens the body's userId is the buyer (the
   * shop's gateway vouches for it), and the header is not even read. With them the buyer is the token's
   * `sub`, checked before the body: a body naming anyone else is `403 forbidden`.
   */
  async function orderRequestOf(req: Request): Promise<OrderRequest> {
    if (!callers.buyerTokens) return parse(requestSchema, jsonBody(req), 'body');
    const caller = await callers.of(req);
    if (caller.kind !== 'buyer') throw new AppError('unauthorized', 'send Authorization: Bearer <buyer token>');
    const body = parse(tokenRequestSchema, jsonBody(req), 'body');
    if (body.userId !== undefined && body.userId !== caller.userId)
      throw new AppError('forbidden', "body.userId is not the buyer token's sub: leave it out or send the same");
    return { ...body, userId: caller.userId };
  }

  // What happens to a valid order is the acceptor's to decide (core's acceptOrder.ts); this parses and answers.
  router.post('/orders', async (req, res) => {
    const request = await orderRequestOf(req);
    const keyHeader = req.get('idempotency-key');
    const idempotencyKey =
      keyHeader === undefined ? undefined : parse(idempotencyKeySchema, keyHeader, 'Idempotency-Key');
    const outcome = await acceptor.accept(request, idempotencyKey);
    switch (outcome.kind) {
      case 'accepted':
        res.location(`/orders/${outcome.orderId}`);
        sendJson(res, 202, { orderId: outcome.orderId, status: outcome.status });
        return;
      case 'refused':
        // Answered, not thrown: the sold-out storm after a sale is tens of thousands of these a
        // second, and a thrown error costs the router a walk of its error handlers. A refusal from
        // memory a turn of the event loop later: an answer written from inside the request's own
        // read costs the socket write far more CPU than one written from a later turn.
        if (outcome.fromMemory) await nextTurn();
        if (outcome.retryAfterS !== undefined) res.set('Retry-After', String(outcome.retryAfterS));
        sendError(res, outcome.error);
        return;
    }
  });

  router.get('/orders/:orderId', async (req, res) => {
    const caller = await callers.of(req);
    const orderId = parse(orderIdSchema, req.params.orderId, 'orderId');
    const waitS = req.query.wait === undefined ? undefined : Number(parse(waitSchema, req.query.wait, 'wait'));
    // Registered before the first read, so a decision published between the two is not missed. With
    // ORDER_WAIT_MAX requests waiting already (or its per-order or per-address cap), this one is
    // answered at once, as without `wait`.
    const address = req.ip ?? req.socket.remoteAddress ?? '';
    const waiting = waitS === undefined ? undefined : deps.waiters.add(orderId, waitS * 1000, address);
    if (!waiting) {
      answerOrder(res, caller, orderId, await getOrder(deps.redis, deps.keys, orderId));
      return;
    }
    // A client that goes away frees its place at once; its wait then reads nothing more.
    res.once('close', waiting.cancel);
    try {
      let order = await getOrder(deps.redis, deps.keys, orderId);
      if (order && !isDecided(order) && orderSeenBy(caller, order)) {
        const woken = await waiting.woken;
        if (woken.kind === 'gone') return;
        order = woken.kind === 'read' ? woken.order : await getOrder(deps.redis, deps.keys, orderId);
      }
      answerOrder(res, caller, orderId, order);
    } finally {
      waiting.cancel();
    }
  });

  return router;
}

/** The answer of GET /orders/:id, after a wait too: another buyer's order as if it did not exist (a 403 would confirm that it does). */
function answerOrder(res: Response, caller: Caller, orderId: string, order: Order | null): void {
  const seen = order ? orderSeenBy(caller, order) : undefined;
  if (!seen) throw new AppError('not_found', `order ${orderId} does not exist`);
  res.json(seen);
}
