import { after, before } from 'node:test';
import { type Queue } from 'bullmq';
import {
  type RedisClient,
  connectRedis,
  createKeys,
  createLogger,
  createOrdersQueue,
  createOrdersQueues,
  createWebhookQueues,
  listen,
  loadConfig,
  type Config,
  type Listening,
  type Keys,
  type Logger,
} from '@flashline/core';
import { startRedis, type TestRedis } from '@flashline/test-utils';
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
  /** Partition 0 of the orders queue (the only one on a single Redis). */
  queue: Queue;
  /** Every partition, as main.ts hands them to Bull Board and the sale panel. */
  queues: readonly Queue[];
  /** With WEBHOOK_URL in `env`: the webhooks queue's partitions, on the board as main.ts puts them. */
  webhooks: readonly Queue[];
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
  const config = fixtureConfig(prefix, options);
  const redis = connectRedis({ redisUrl: server.url, redisTimeoutMs: 1000 }, 'worker');
  return dashboardWith(config, redis, [createOrdersQueue(config, redis)], options);
}

/**
 * The same on a Redis Cluster (`seedNodes` as REDIS_CLUSTER_NODES takes them), wired as main.ts wires
 * it: every partition of the orders queue (QUEUE_PARTITIONS, in `options.env`) on the board and the panel.
 */
export function dashboardOnCluster(seedNodes: string, prefix: string, options: FixtureOptions = {}): DashboardFixture {
  const config = fixtureConfig(prefix, { ...options, env: { REDIS_CLUSTER_NODES: seedNodes, ...options.env } });
  const redis = connectRedis(config, 'worker');
  return dashboardWith(config, redis, createOrdersQueues(config, redis).all, options);
}

function fixtureConfig(prefix: string, options: FixtureOptions): Config {
  // Failed logins are not throttled unless a test asks: the 401 tests send dozens from one address.
  return loadConfig({
    KEY_PREFIX: prefix,
    LOGIN_FAILURES_PER_IP: '0',
    LOGIN_FAILURES_PER_USER: '0',
    ...options.env,
  });
}

function dashboardWith(
  config: Config,
  redis: RedisClient,
  queues: readonly Queue[],
  options: FixtureOptions,
): DashboardFixture {
  const keys = createKeys(config.keyPrefix);
  const webhooks = config.webhooks ? createWebhookQueues(config, config.webhooks, redis) : [];
  const audit = new AuditLog(redis, keys, config.audit);
  const log = options.log ?? createLogger('dashboard-test');
  const sale = new SaleFeed({ redis, keys, orders: queues, webhooks, intervalMs: options.intervalMs ?? 100, log });
  const app = createDashboardApp({
    users: { admin: ADMIN, viewer: VIEWER },
    queues: [...queues, ...webhooks],
    audit,
    sale,
    streams: config.salePanelStreams,
    login: new LoginThrottle(redis, keys, config.dashboardLogin),
    trustProxy: config.trustProxy,
    log,
    ...(options.metrics ? { metrics: dashboardMetrics(config, redis, queues) } : {}),
  });
  return {
    app,
    redis,
    keys,
    queue: queues[0]!,
    queues,
    webhooks,
    audit,
    sale,
    async close() {
      sale.close();
      await Promise.all([...queues, ...webhooks].map((queue) => queue.close()));
      redis.disconnect();
    },
  };
}

/**
 * The dashboard listening on a free port, on a private redis-server, for the enclosing `describe`
 * (started in `before`, stopped in `after`): read `.fixture` and `.base` (its URL) inside tests.
 */
export function useListeningDashboard(
  prefix: string,
  options: FixtureOptions = {},
): { server: TestRedis; fixture: DashboardFixture; base: string } {
  const context = {} as { server: TestRedis; fixture: DashboardFixture; http: Listening; base: string };
  before(async () => {
    context.server = await startRedis();
    context.fixture = dashboardOn(context.server, prefix, options);
    context.http = await listen(context.fixture.app, 0, '127.0.0.1', loadConfig({}).http);
    context.base = `http://127.0.0.1:${context.http.port}`;
  });
  after(async () => {
    context.fixture.sale.close();
    await context.http.close();
    await context.fixture.close();
    await context.server.stop();
  });
  return context;
}
