import { type Queue } from 'bullmq';
import {
  type RedisClient,
  connectRedis,
  createKeys,
  createLogger,
  createOrdersQueue,
  loadConfig,
  type Config,
  type Keys,
  type Logger,
} from '@flashline/core';
import type { TestRedis } from '@flashline/test-utils';
import { createDashboardApp } from '../src/app.ts';
import { AuditLog } from '../src/audit/auditLog.ts';
import { LoginThrottle } from '../src/auth/loginThrottle.ts';
import { SaleFeed } from '../src/sale/saleFeed.ts';
import { dashboardMetrics } from '../src/metrics.ts';

export const ADMIN = { user: 'ops', password: 'admin-correct-horse' };
export const VIEWER = { user: 'watcher', password: 'viewer-battery-staple' };

export interface DashboardFixture {
  app: ReturnType<typeof createDashboardApp>;
  redis: RedisClient;
  keys: Keys;
  queue: Queue;
  audit: AuditLog;
  sale: SaleFeed;
  close(): Promise<void>;
}

export interface FixtureOptions {
  intervalMs?: number;
  /** Environment settings (AUDIT_*, LOGIN_*, SALE_PANEL_*, NODE_ENV, METRICS_TOKEN, TRUST_PROXY), as in production. */
  env?: Record<string, string>;
  /** Mount GET /metrics, as main.ts does. */
  metrics?: boolean;
  log?: Logger;
}

/** The dashboard app in-process, on a Redis the test started, under its own key and queue prefix. */
export function dashboardOn(server: TestRedis, prefix: string, options: FixtureOptions = {}): DashboardFixture {
  // Failed logins are not throttled unless a test asks: the 401 tests send dozens from one address.
  const config: Config = loadConfig({
    KEY_PREFIX: prefix,
    LOGIN_FAILURES_PER_IP: '0',
    LOGIN_FAILURES_PER_USER: '0',
    ...options.env,
  });
  const redis = connectRedis({ redisUrl: server.url, redisTimeoutMs: 1000 }, 'worker');
  const keys = createKeys(prefix);
  const queue = createOrdersQueue(config, redis);
  const audit = new AuditLog(redis, keys, config.audit);
  const log = options.log ?? createLogger('dashboard-test');
  const sale = new SaleFeed({ redis, keys, orders: [queue], intervalMs: options.intervalMs ?? 100, log });
  const app = createDashboardApp({
    users: { admin: ADMIN, viewer: VIEWER },
    queues: [queue],
    audit,
    sale,
    streams: config.salePanelStreams,
    login: new LoginThrottle(redis, keys, config.dashboardLogin),
    trustProxy: config.trustProxy,
    log,
    ...(options.metrics ? { metrics: dashboardMetrics(config, redis, [queue]) } : {}),
  });
  return {
    app,
    redis,
    keys,
    queue,
    audit,
    sale,
    async close() {
      sale.close();
      await queue.close();
      redis.disconnect();
    },
  };
}
