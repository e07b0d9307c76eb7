import {
  awaitRedis,
  connectRedis,
  createHoldsQueues,
  createKeys,
  createOrdersQueues,
  createWebhookQueues,
  listen,
  queuesByPartition,
  runMain,
  withSecrets,
} from '@flashline/core';
import { BOARD_PATH, SALE_PATH, createDashboardApp } from './app.ts';
import { AuditLog } from './audit/auditLog.ts';
import { LoginThrottle } from './auth/loginThrottle.ts';
import { SaleFeed } from './sale/saleFeed.ts';
import { dashboardMetrics } from './metrics.ts';

await runMain('dashboard', async (baseConfig, log) => {
  const config = withSecrets(baseConfig, log, ['dashboardPassword', 'dashboardViewerPassword']);
  // A reader of the queue, not a producer: it may wait through a Redis restart.
  const redis = connectRedis(config, 'worker');
  // The dashboard does not say it listens before Redis answers: everything it shows comes from there.
  await awaitRedis(redis, config, log);
  const keys = createKeys(config.keyPrefix);
  // Built as the API builds it: a job an admin adds on the board gets the same attempts and retention.
  // Every partition: Bull Board lists each, the panel and the metrics add them up.
  const orders = createOrdersQueues(config, redis);
  // The hold expiry timers too: an operator sees a product's next expiries and a timer that failed.
  const holds = createHoldsQueues(config, redis);
  // With WEBHOOK_URL, the deliveries too (each partition's webhooks queue): failed ones are retried from the board.
  const webhooks = config.webhooks ? createWebhookQueues(config, config.webhooks, redis) : [];
  // Each partition's queues together: the panel and /metrics flag a partition with work and no worker.
  const partitions = queuesByPartition(orders.all, holds.all, webhooks);
  const sale = new SaleFeed({
    redis,
    keys,
    orders: orders.all,
    webhooks,
    partitions,
    intervalMs: config.salePanelIntervalMs,
    log,
  });
  const app = createDashboardApp({
    users: {
      admin: { user: config.dashboardUser, password: config.dashboardPassword },
      viewer: { user: config.dashboardViewerUser, password: config.dashboardViewerPassword },
    },
    queues: [...orders.all, ...holds.all, ...webhooks],
    audit: new AuditLog(redis, keys, config.audit),
    sale,
    streams: config.salePanelStreams,
    login: new LoginThrottle(redis, keys, config.dashboardLogin),
    trustProxy: config.trustProxy,
    log,
    metrics: dashboardMetrics(config, redis, orders.all, partitions),
  });

  if (config.env === 'production' && config.metricsToken === undefined)
    log('warn', 'METRICS_TOKEN is not set: /metrics answers 401 with NODE_ENV=production');
  const http = await listen(app, config.dashboardPort, config.host, config.http);
  const url = `http://${config.host}:${http.port}`;
  log('info', 'dashboard listening', {
    url: `${url}${BOARD_PATH}`,
    salePanel: `${url}${SALE_PATH}`,
    port: http.port,
    admin: config.dashboardUser,
    viewer: config.dashboardViewerUser,
  });

  return async () => {
    // The panels' event streams never end by themselves: end them, or the server would wait forever.
    sale.close();
    await http.close();
    await Promise.all([orders.close(), holds.close(), ...webhooks.map((queue) => queue.close())]);
    await redis.quit().catch(() => redis.disconnect());
  };
});
