import cluster from 'node:cluster';
import {
  connectRedis,
  createKeys,
  createLogger,
  createOrdersQueues,
  listen,
  loadConfigOrExit,
  pooledMetrics,
  redactUrl,
  runMain,
  runPool,
  servePoolMetrics,
  waitUntilReady,
  withSecrets,
} from '@flashline/core';
import { createApp } from './app.ts';
import { startDecisionWaits } from './decisionWaits.ts';

// `npm run start:api`: a pool of API_PROCESSES processes on one port (runPool). This file is both the
// pool's primary, which only forks, replaces and stops, and each of its processes, which serve.
if (cluster.isPrimary) {
  const config = loadConfigOrExit('api', process.env);
  const log = createLogger('api', config.logLevel);
  servePoolMetrics();
  runPool({
    service: 'api',
    processes: config.apiProcesses,
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
    let lastError = '';
    redis.on('error', (error: Error) => (lastError = error.message));
    while (
      !(await waitUntilReady(redis, 5000).then(
        () => true,
        () => false,
      ))
    ) {
      log('warn', 'waiting for Redis', { redisUrl: redactUrl(config.redisUrl), error: lastError });
    }
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
