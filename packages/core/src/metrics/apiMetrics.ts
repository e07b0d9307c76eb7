import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createRegistry } from './registry.ts';

/** Requests answered before any route matched (per-IP 429, 503 while Redis is down, unknown paths). */
export const UNMATCHED_ROUTE = 'unmatched';

/** The API process's metrics. Labels are bounded: route patterns, never raw paths or ids. */
export function createApiMetrics(registry: Registry = createRegistry()) {
  let waiting = () => 0;
  return {
    registry,
    orderWaits: new Gauge({
      name: 'flashline_order_waits',
      help: 'GET /orders/:id?wait= requests of this process waiting for their order to be decided',
      registers: [registry],
      collect() {
        this.set(waiting());
      },
    }),
    /** Where the gauge of waiting requests reads its value, at each scrape. */
    trackWaits(size: () => number) {
      waiting = size;
    },
    httpRequests: new Counter({
      name: 'flashline_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'flashline_http_request_duration_seconds',
      help: 'Time from receiving a request to the end of its answer, by route pattern and method',
      labelNames: ['route', 'method'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ordersAccepted: new Counter({
      name: 'flashline_orders_accepted_total',
      help: 'POST /orders answered 202 (idempotent replays of an accepted order included)',
      registers: [registry],
    }),
    ordersRefused: new Counter({
      name: 'flashline_orders_refused_total',
      help: 'POST /orders answered with an error, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
