import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry, type Counter, type Registry } from 'prom-client';
import { bearerToken, secretMatcher } from '../crypto/digest.ts';
import type { Config } from '../config/config.ts';
import { AppError } from '../errors/appError.ts';
import type { MetricsJson } from './registry.ts';
import { withTimeout } from './registry.ts';

export interface Exposition {
  contentType: string;
  text: string;
}

/** One process's registry, as it is. */
export const ownMetrics = (registry: Registry) => async (): Promise<Exposition> => ({
  contentType: registry.contentType,
  text: await registry.metrics(),
});

/**
 * This process's registry merged with what the workers published. Each worker's series carry
 * its `worker` label, so nothing is summed across workers: a worker that stops takes its series
 * with it, and no counter ever goes down. When the published copies cannot be read in time the
 * scrape answers without them and `flashline_metrics_read_errors_total{source="workers"}` counts it.
 */
export const mergedMetrics =
  (registry: Registry, published: () => Promise<MetricsJson[]>, readErrors: Counter<'source'>, timeoutMs = 1000) =>
  async (): Promise<Exposition> => {
    const workers = await withTimeout(published(), timeoutMs, 'reading the workers\u2019 metrics').catch(() => {
      readErrors.inc({ source: 'workers' });
      return [];
    });
    // Every source's series are apart (a worker label each), so this merges, never sums: 'first'
    // also keeps the metrics prom-client would drop (process_start_time_seconds is 'omit').
    const sources = [await registry.getMetricsAsJSON(), ...workers].map((metrics) =>
      metrics.map((metric) => ({ ...metric, aggregator: 'first' as const })),
    );
    const merged = AggregatorRegistry.aggregate(sources);
    return { contentType: registry.contentType, text: await merged.metrics() };
  };

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, headers).end(body);
}

function sendError(res: ServerResponse, error: AppError, headers: Record<string, string> = {}): void {
  send(
    res,
    error.httpStatus,
    { 'content-type': 'application/json; charset=utf-8', ...headers },
    JSON.stringify(error.toJSON()),
  );
}

/**
 * GET /metrics. Without METRICS_TOKEN open (reach limited by the network, the Prometheus custom),
 * except with NODE_ENV=production, where it then answers 401 to everyone; with METRICS_TOKEN set it
 * needs `Authorization: Bearer <METRICS_TOKEN>`.
 * A plain Node handler, so any HTTP framework can mount it.
 */
export function metricsHandler(render: () => Promise<Exposition>, access: Pick<Config, 'env' | 'metricsToken'>) {
  const token = access.metricsToken;
  const isToken = token === undefined ? undefined : secretMatcher(token);
  // In production the metrics (order volumes, worker hosts) are never open: without a token, nobody reads them.
  const closed = access.env === 'production' && token === undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const given = bearerToken(req.headers.authorization);
    if (closed || (isToken && (given === undefined || !isToken(given)))) {
      const hint = closed
        ? 'set METRICS_TOKEN: with NODE_ENV=production /metrics needs a bearer token'
        : 'send Authorization: Bearer <METRICS_TOKEN>';
      sendError(res, new AppError('unauthorized', hint), { 'www-authenticate': 'Bearer realm="metrics"' });
      return;
    }
    try {
      const { contentType, text } = await render();
      send(res, 200, { 'content-type': contentType, 'cache-control': 'no-store' }, text);
    } catch (error) {
      sendError(res, new AppError('internal', 'metrics could not be collected', { cause: error }));
    }
  };
}
