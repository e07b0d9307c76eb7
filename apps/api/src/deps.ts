import type {
  RedisClient,
  ApiMetrics,
  Config,
  Exposition,
  Keys,
  Logger,
  OrdersQueues,
  OrderWaiters,
  WebhookEvents,
} from '@flashline/core';

/** What the API's routes and middleware are built from (its own module, so that they need not import the app). */
export interface ApiDeps {
  config: Config & { adminToken: string };
  redis: RedisClient;
  keys: Keys;
  /** The orders queue's partitions (QUEUE_PARTITIONS): a product's orders go to its own. */
  queues: OrdersQueues;
  log: Logger;
  /** The requests waiting for a decision (`GET /orders/:id?wait=`), fed by the process's one subscription. */
  waiters: OrderWaiters;
  /** The system's webhooks setting (one for every process); without it, this process's WEBHOOK_URL decides. */
  webhookEvents?: WebhookEvents;
  /** This process's metrics; a fresh registry when not given (each app its own, tests included). */
  metrics?: ApiMetrics;
  /**
   * What GET /metrics shows of the registry: this process's own (the default), or in a pool the sum over
   * its processes (pooledMetrics).
   */
  exposition?: (registry: ApiMetrics['registry']) => () => Promise<Exposition>;
}
