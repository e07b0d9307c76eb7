import type { NextFunction, RequestHandler, Response } from 'express';
import { RateLimitBatcher, isRedisFull, rateLimitedError, type RateLimit, type RateLimitReply } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';
import { adminRequests } from './adminAuth.ts';

/**
 * The per-client-address limit, keyed on `req.ip` (what `trust proxy` makes of X-Forwarded-For), counted
 * in batches (the requests that arrive together, one Redis call), a busy address's units counted ahead
 * and a spent window refused without a call (RateLimitBatcher).
 * Over the limit: Retry-After (whole seconds) and 429 rate_limited. Redis down rejects with
 * ioredis's error: the error handler makes it a 503. A full Redis (past maxmemory) refuses the count,
 * a write, yet still answers reads: the request goes on uncounted, so the shop still shows products and
 * orders, and whatever it would write Redis refuses by itself (503).
 * The admin's calls (ADMIN_TOKEN: the shop's own backend confirming, cancelling, reading products) are
 * neither limited nor counted: a burst of the shop's own traffic must not be refused as a stranger's,
 * and the token already allows everything. A request without an Authorization header (a sale's
 * anonymous buyers) costs one property read for this; a bearer costs one SHA-256.
 * Not an async function: an answer known here (most of a storm's) costs no promise.
 */
export function limitByIp(deps: ApiDeps): RequestHandler {
  const { windowMs, perIp } = deps.config.rateLimit;
  const rule: RateLimit = { scope: 'ip', limit: perIp, windowMs };
  // Off (0): not even a lookup per request.
  if (perIp === 0) return (_req, _res, next) => next();
  const batcher = new RateLimitBatcher({ redis: deps.redis, keys: deps.keys, rule, maxBatch: deps.config.acceptBatch });
  const answer = (limit: RateLimitReply, res: Response, next: NextFunction) => {
    switch (limit.kind) {
      case 'allowed':
        return next();
      case 'refused': {
        const retryAfterS = Math.ceil(limit.retryInMs / 1000);
        res.set('Retry-After', String(retryAfterS));
        return next(rateLimitedError(rule, retryAfterS));
      }
    }
  };
  const isAdmin = adminRequests(deps.config.adminToken);
  return (req, res, next) => {
    if (req.headers.authorization !== undefined && isAdmin(req)) return next();
    const taken = batcher.take(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    if (!(taken instanceof Promise)) return answer(taken, res, next);
    taken.then(
      (limit) => answer(limit, res, next),
      (error: unknown) => (isRedisFull(error) ? next() : next(error)),
    );
  };
}
