import type { RequestListener } from 'node:http';
import express, { type RequestHandler } from 'express';
import { AppError, createApiMetrics, metricsHandler, ownMetrics, publishDoorCounts } from '@flashline/core';
import type { ApiDeps } from './deps.ts';
import { frontDoor } from './http/door.ts';
import { errorHandler, notFound } from './http/errors.ts';
import { jsonBody } from './http/jsonBody.ts';
import { countRequests } from './http/metrics.ts';
import { limitByIp } from './http/rateLimit.ts';
import { requestLog } from './http/requestLog.ts';
import { securityHeaders } from './http/securityHeaders.ts';
import { requireUtf8 } from './http/validate.ts';
import { healthRoutes } from './routes/health.ts';
import { holdRoutes } from './routes/holds.ts';
import { orderRoutes } from './routes/orders.ts';
import { productRoutes } from './routes/products.ts';

export type { ApiDeps } from './deps.ts';

/**
 * The HTTP API without a port: the request listener a node:http server runs (main.ts listens; tests
 * hand it to supertest or `listen`). It is the Express app behind the front door (http/door.ts), which
 * dispatches the hot routes to their Express routes through the same middleware, without the router's walk.
 */
export function createApp(deps: ApiDeps): RequestListener {
  const metrics = deps.metrics ?? createApiMetrics();
  metrics.trackWaits(() => deps.waiters.size);
  // The sale panel's front door: this app's counters, published on a timer (never per request).
  if (deps.config.doorPublishMs > 0)
    publishDoorCounts(deps.redis, deps.keys, metrics, deps.log, { intervalMs: deps.config.doorPublishMs });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Set explicitly (TRUST_PROXY): only a trusted proxy's X-Forwarded-For may change req.ip.
  app.set('trust proxy', deps.config.trustProxy);
  // Each concern once, as one function: the app mounts it, and the front door runs the very same one.
  // First, so every answer is logged and counted: 429s and 503s given before any route included.
  // The request log only at LOG_LEVEL=debug: at info it is not even mounted, and costs the accept path
  // nothing. A test's stub logger has no pino behind it and writes nothing, requests included.
  const everyAnswer: RequestHandler[] = [
    ...(deps.config.logLevel === 'debug' && deps.log.pino ? [requestLog(deps.log.pino)] : []),
    countRequests(metrics),
    securityHeaders(),
  ];
  const beforeRoutes: RequestHandler[] = [
    // While the connection is down or reconnecting, answer 503 at once: nothing is sent that could
    // run later, after the client was told it failed.
    (_req, _res, next) => {
      next(
        deps.redis.status === 'ready'
          ? undefined
          : new AppError('unavailable', 'the order store is unavailable, retry shortly'),
      );
    },
    // Before the body is read: a client over its limit costs one Redis call, not a parse.
    limitByIp(deps),
    // strict: only objects and arrays; 4 kB is ample for an order and bounds what a bot can send.
    jsonBody({ limit: 4096, verify: requireUtf8 }),
  ];
  const orders = orderRoutes(deps);
  const products = productRoutes(deps);
  const onError = errorHandler(deps.log);

  app.use(everyAnswer);
  // Health checks and metrics come before the limits: probes and scrapes are never refused, and
  // /metrics needs no Redis (this process's own counters). METRICS_TOKEN, when set, guards it (always needed in production).
  app.use(healthRoutes(deps));
  app.get('/metrics', metricsHandler((deps.exposition ?? ownMetrics)(metrics.registry), deps.config));
  app.use(beforeRoutes);
  // Orders first: POST /orders is nearly all the traffic of a sale, and every router it passes costs.
  app.use(orders);
  app.use(holdRoutes(deps));
  app.use(products);
  app.use(notFound);
  app.use(onError);
  return frontDoor(app, { middleware: [...everyAnswer, ...beforeRoutes], notFound, errorHandler: onError }, [
    { router: orders, method: 'post', path: '/orders' },
    { router: orders, method: 'get', path: '/orders/:orderId' },
    { router: products, method: 'get', path: '/products/:productId' },
  ]);
}
