import cluster from 'node:cluster';
import {
  awaitRedis,
  connectRedis,
  createKeys,
  createLogger,
  createOrdersQueues,
  errorFields,
  listen,
  loadConfigOrExit,
  pooledMetrics,
  runMain,
  runPool,
  servePoolMetrics,
  startWebhookEvents,
  withSecrets,
} from '@flashline/core';
import { createApp } from './app.ts';
import { startDecisionWaits } from './decisionWaits.ts';

// `npm run start:api`: a pool of API_PROCESSES processes on one port (runPool). This file is both the
// pool's primary, which only forks, replaces and stops, and each of its processes, which serve.
if (cluster.isPrimary) {
  const settings = loadConfigOrExit('api', process.env);
  const log = createLogger('api', settings.logLevel);
  // Generated once, here, and given to every process: each making its own would give the pool N admin tokens.
  const config = withSecrets(settings, log, ['adminToken']);
  servePoolMetrics();
  runPool({
    service: 'api',
    processes: config.apiProcesses,
    env: { ADMIN_TOKEN: config.adminToken },
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    log,
    onListening: ({ port }) =>
      log('info', 'api listening', { url: `http://${config.host}:${port}`, port, processes: config.apiProcesses }),
  });
} else {
  await runMain('api', async (baseConfig, log) => {
    const config = withSecrets(baseConfig, log, ['adminToken']);
    const redis = connectRedis(config, 'producer');
    // BullMQ checks the server version once, when the queue is made; with the producer's offline
    // queue off that check must find a live connection, so wait for Redis before going further.
    await awaitRedis(redis, config, log);
    const queues = createOrdersQueues(config, redis);
    const keys = createKeys(config.keyPrefix);
    const waits = startDecisionWaits(config, redis, keys, log);
    // The system's webhooks setting: with it on, this API writes the events of its confirms and cancels
    // whether it has WEBHOOK_URL or not (docs/webhooks.md).
    // Read at a confirm, a cancel or a product read, at most once a second: an idle API sends Redis nothing.
    const webhookEvents = startWebhookEvents(redis, keys, config, {
      onError: (error) => log('debug', 'could not read the webhooks setting', errorFields(error)),
    });
    await webhookEvents.ready;
    // GET /metrics answers the whole pool's sum, whichever process the scrape reaches.
    const app = createApp({
      config,
      redis,
      keys,
      queues,
      log,
      waiters: waits.waiters,
      webhookEvents,
      exposition: pooledMetrics,
    });

    const http = await listen(app, config.port, config.host, config.http);
    log('info', 'api process listening', { port: http.port, pid: process.pid });

    return async () => {
      // Waiting requests answer now (their orders as they are), so the server's close is not held up by them.
      waits.close();
      webhookEvents.stop();
      await http.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
    };
  });
}
