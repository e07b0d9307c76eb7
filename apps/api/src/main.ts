import {
  connectRedis,
  createKeys,
  createOrdersQueues,
  errorFields,
  listen,
  redactUrl,
  runMain,
  startWebhookEvents,
  waitUntilReady,
  withSecrets,
} from '@flashline/core';
import { createApp } from './app.ts';
import { startDecisionWaits } from './decisionWaits.ts';

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
  // The system's webhooks setting: with it on, this API writes the events of its confirms and cancels
  // whether it has WEBHOOK_URL or not (docs/webhooks.md).
  // Read at a confirm, a cancel or a product read, at most once a second: an idle API sends Redis nothing.
  const webhookEvents = startWebhookEvents(redis, keys, config, {
    onError: (error) => log('debug', 'could not read the webhooks setting', errorFields(error)),
  });
  await webhookEvents.ready;
  const app = createApp({ config, redis, keys, queues, log, waiters: waits.waiters, webhookEvents });

  const http = await listen(app, config.port, config.host, config.http);
  log('info', 'api listening', { url: `http://${config.host}:${http.port}`, port: http.port });

  return async () => {
    // Waiting requests answer now (their orders as they are), so the server's close is not held up by them.
    waits.close();
    webhookEvents.stop();
    await http.close();
    await queues.close();
    await redis.quit().catch(() => redis.disconnect());
  };
});
