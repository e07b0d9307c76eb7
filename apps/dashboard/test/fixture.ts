import { type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { connectRedis, createKeys, createLogger, createOrdersQueue, loadConfig, type Keys } from '@flashline/core';
import type { TestRedis } from '@flashline/test-utils';
import { createDashboardApp } from '../src/app.ts';
import { AuditLog } from '../src/audit/auditLog.ts';
import { SaleFeed } from '../src/sale/saleFeed.ts';

export const ADMIN = { user: 'ops', password: 'admin-correct-horse' };
export const VIEWER = { user: 'watcher', password: 'viewer-battery-staple' };

export interface DashboardFixture {
  app: ReturnType<typeof createDashboardApp>;
  redis: Redis;
  keys: Keys;
  queue: Queue;
  audit: AuditLog;
  sale: SaleFeed;
  close(): Promise<void>;
}

/** The dashboard app in-process, on a Redis the test started, under its own key and queue prefix. */
export function dashboardOn(
  server: TestRedis,
  prefix: string,
  options: { intervalMs?: number } = {},
): DashboardFixture {
  const redis = connectRedis({ redisUrl: server.url, redisTimeoutMs: 1000 }, 'worker');
  const keys = createKeys(prefix);
  const queue = createOrdersQueue(loadConfig({ KEY_PREFIX: prefix }), redis);
  const audit = new AuditLog(redis, keys);
  const log = createLogger('dashboard-test');
  const sale = new SaleFeed({ redis, keys, orders: queue, intervalMs: options.intervalMs ?? 100, log });
  const app = createDashboardApp({ users: { admin: ADMIN, viewer: VIEWER }, queues: [queue], audit, sale, log });
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
