import type { RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import {
  type RedisClient,
  createKeys,
  createReadErrors,
  createRegistry,
  mergedMetrics,
  metricsHandler,
  readPublishedMetrics,
  registerQueueDepth,
  registerUnservedPartitions,
  unservedPartitions,
  type Config,
} from '@flashline/core';

/**
 * The dashboard's GET /metrics: the cluster-wide view. Its own process metrics, the orders queue's
 * depth, the partitions with work that no worker serves, and the metrics every live worker published to Redis (each with its `worker` label).
 * The API serves only its own process's metrics, so scraping every process counts nothing twice.
 * With NODE_ENV=production it needs METRICS_TOKEN (metricsHandler): the cluster-wide view names every
 * worker host and the sale's volume.
 */
export function dashboardMetrics(
  config: Pick<Config, 'env' | 'keyPrefix' | 'metricsToken'>,
  redis: RedisClient,
  orders: readonly Queue[],
  partitions: readonly (readonly Queue[])[] = orders.map((queue) => [queue]),
): RequestHandler {
  const registry = createRegistry();
  const readErrors = createReadErrors(registry);
  const keys = createKeys(config.keyPrefix);
  registerQueueDepth(registry, orders, readErrors);
  registerUnservedPartitions(registry, () => unservedPartitions(redis, keys, partitions), readErrors);
  return metricsHandler(
    mergedMetrics(registry, () => readPublishedMetrics(redis, keys), readErrors),
    config,
  );
}
