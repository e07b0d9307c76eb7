import type { Request, RequestHandler, Response } from 'express';
import { UNMATCHED_ROUTE, type ApiMetrics } from '@flashline/core';

/**
 * The route pattern that answered (`/orders/:orderId`), never the raw path: one series per route,
 * whatever ids clients send. Read when the answer is sent, so it is the route that handled it.
 * Every router is mounted at the root, so the pattern is the whole path.
 */
function routeOf(req: Request): string {
  // Express types `req.route` as any: read it as unknown and check.
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : UNMATCHED_ROUTE;
}

/** POST /orders, also when it was refused before its route ran (a per-IP 429, a 503). */
function isOrderPost(req: Request, route: string): boolean {
  return req.method === 'POST' && (route === '/orders' || /^\/orders\/?(\?|$)/.test(req.originalUrl));
}

/** The code the error handler answered with (see errors.ts); `unknown` if none was recorded. */
export const errorCodeOf = (res: Response): string =>
  typeof res.locals.errorCode === 'string' ? res.locals.errorCode : 'unknown';

/** Counts every answer: requests by route and status, their duration, and POST /orders outcomes. */
export function countRequests(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const startedAt = process.hrtime.bigint();
    res.once('finish', () => {
      const route = routeOf(req);
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      metrics.httpRequests.inc({ route, method: req.method, status: String(res.statusCode) });
      metrics.httpDuration.observe({ route, method: req.method }, seconds);
      if (!isOrderPost(req, route)) return;
      if (res.statusCode === 202) metrics.ordersAccepted.inc();
      else if (res.statusCode >= 400) metrics.ordersRefused.inc({ code: errorCodeOf(res) });
    });
    next();
  };
}
