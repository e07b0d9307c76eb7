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

/**
 * A metric's child for one set of label values, looked up once: prom-client hashes the labels object
 * on every `inc`/`observe` otherwise, which in a sold-out storm is a few percent of the API's CPU.
 * The values are bounded (route patterns, Node's methods, statuses, error codes), so is the cache.
 */
function childrenOf<Values extends string[], Child>(make: (...values: Values) => Child): (...values: Values) => Child {
  const children = new Map<string, Child>();
  return (...values: Values) => {
    const key = values.join(' ');
    let child = children.get(key);
    if (!child) children.set(key, (child = make(...values)));
    return child;
  };
}

/** When each answer's request came in: on the answer, so one shared `finish` listener finds it (no closure per request). */
const startedAt = Symbol('startedAt');
type Counted = Response & { [startedAt]?: number };

/** Counts every answer: requests by route and status, their duration, and POST /orders outcomes. */
export function countRequests(metrics: ApiMetrics): RequestHandler {
  const requests = childrenOf((route: string, method: string, status: string) =>
    metrics.httpRequests.labels(route, method, status),
  );
  const durations = childrenOf((route: string, method: string) => metrics.httpDuration.labels(route, method));
  const refused = childrenOf((code: string) => metrics.ordersRefused.labels(code));
  function onFinish(this: Counted): void {
    const req = this.req;
    const route = routeOf(req);
    const seconds = (performance.now() - (this[startedAt] ?? 0)) / 1000;
    requests(route, req.method, String(this.statusCode)).inc();
    durations(route, req.method).observe(seconds);
    if (!isOrderPost(req, route)) return;
    if (this.statusCode === 202) metrics.ordersAccepted.inc();
    else if (this.statusCode >= 400) refused(errorCodeOf(this)).inc();
  }
  return (_req, res, next) => {
    (res as Counted)[startedAt] = performance.now();
    // `finish` is emitted once: `on`, without once's wrapper.
    res.on('finish', onFinish);
    next();
  };
}
