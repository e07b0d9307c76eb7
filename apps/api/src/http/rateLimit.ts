import type { RequestHandler, Response } from 'express';
import { AppError, takeRateLimit, type RateLimit } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';

const whose = { ip: 'this client address', user: 'this user' } as const;

/**
 * Counts the request of `id` against `rule`; over the limit it sets Retry-After (whole seconds)
 * and throws 429 rate_limited. Redis down rejects with ioredis's error: the error handler makes it a 503.
 */
export async function enforceRateLimit(
  { redis, keys }: Pick<ApiDeps, 'redis' | 'keys'>,
  rule: RateLimit,
  id: string,
  res: Response,
): Promise<void> {
  const waitMs = await takeRateLimit(redis, keys, rule, id);
  if (waitMs === 0) return;
  const retryAfterS = Math.ceil(waitMs / 1000);
  res.set('Retry-After', String(retryAfterS));
  throw new AppError(
    'rate_limited',
    `too many requests from ${whose[rule.scope]}: at most ${rule.limit} per ${rule.windowMs} ms, retry in ${retryAfterS} s`,
  );
}

/** The per-client-address limit, keyed on `req.ip` (what `trust proxy` makes of X-Forwarded-For). */
export function limitByIp(deps: ApiDeps): RequestHandler {
  const { windowMs, perIp } = deps.config.rateLimit;
  const rule: RateLimit = { scope: 'ip', limit: perIp, windowMs };
  // Off (0): not even a promise per request.
  if (perIp === 0) return (_req, _res, next) => next();
  return async (req, res, next) => {
    await enforceRateLimit(deps, rule, req.ip ?? req.socket.remoteAddress ?? 'unknown', res);
    next();
  };
}
