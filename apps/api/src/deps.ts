import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ApiMetrics, Config, Keys, Logger, OrdersJobData } from '@flashline/core';

/** What the API's routes and middleware are built from (its own module, so that they need not import the app). */
export interface ApiDeps {
  config: Config & { adminToken: string };
  redis: Redis;
  keys: Keys;
  queue: Queue<OrdersJobData>;
  log: Logger;
  /** This process's metrics; a fresh registry when not given (each app its own, tests included). */
  metrics?: ApiMetrics;
}
