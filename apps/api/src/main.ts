import cluster from 'node:cluster';
import {
  awaitRedis,
  connectRedis,
  createKeys,
  createLogger,
  createOrdersQueues,
  listen,
  loadConfigOrExit,
  pooledMetrics,
  runMain,
  runPool,
  servePoolMetrics,
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
    // GET /metrics answers the whole pool's sum, whichever process the scrape reaches.
    const app = createApp({ config, redis, keys, queues, log, waiters: waits.waiters, exposition: pooledMetrics });

    const http = await listen(app, config.port, config.host, config.http);
    log('info', 'api process listening', { port: http.port, pid: process.pid });

    return async () => {
      // Waiting requests answer now (their orders as they are), so the server's close is not held up by them.
      waits.close();
      await http.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
    };
  });
}
