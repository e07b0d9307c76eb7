import { setTimeout as sleep } from 'node:timers/promises';
import {
  announcePartitions,
  awaitRedis,
  connectRedis,
  createKeys,
  createWorkerReadiness,
  describeRetired,
  describeUnserved,
  findRetiredPartitions,
  listen,
  queuesByPartition,
  createRegistry,
  createWorkerMetrics,
  errorFields,
  ordersOf,
  publishMetrics,
  runMain,
  startReconciler,
  startWebhookEvents,
  workerId,
} from '@flashline/core';
import { healthHandler } from './health.ts';
import { createHoldWorker } from './holdWorker.ts';
import { createOrderWorker, createWorkerParts } from './orderWorker.ts';
import { startWebhooks } from './webhooks.ts';

await runMain('worker', async (config, log) => {
  const redis = connectRedis(config, 'worker');
  // Nothing is built on the connection, and nothing says ready, before Redis answers.
  await awaitRedis(redis, config, log);
  // Workers serve no HTTP: their metrics go to Redis every second, labelled with this worker's id,
  // and the dashboard's GET /metrics serves them (docs/metrics.md).
  const id = workerId();
  const metrics = createWorkerMetrics(createRegistry({ worker: id }));
  // Partitions above QUEUE_PARTITIONS (it was lowered) that still hold jobs: none would be served, nor shown
  // on the board. Unfinished work there refuses the start, naming it; finished jobs are cleaned at their age.
  const retired = await findRetiredPartitions(config, redis);
  const retiredQueues = retired.flatMap((r) => r.queues);
  const stranded = retired.filter((r) => Object.keys(r.unfinished).length > 0);
  if (stranded.length > 0) {
    await Promise.all(retiredQueues.map((queue) => queue.close()));
    throw new Error(describeRetired(stranded, config.queuePartitions));
  }
  if (retired.length > 0)
    log('warn', 'partitions above QUEUE_PARTITIONS keep finished jobs: removed once past their retention', {
      partitions: retired.map(({ partition, finished }) => ({ partition, finished })),
    });
  // The system's webhooks setting: announced with WEBHOOK_URL, read without it (docs/webhooks.md).
  // Polled every second without WEBHOOK_URL: the commits read it as they go.
  const webhookEvents = startWebhookEvents(redis, createKeys(config.keyPrefix), config, {
    poll: true,
    onError: (error) => log('debug', 'could not read the webhooks setting', errorFields(error)),
  });
  await webhookEvents.ready;
  const parts = createWorkerParts(config, redis, metrics, webhookEvents);
  const { keys, queues, holdsQueues } = parts;
  // One BullMQ worker per partition this process consumes (WORKER_PARTITIONS, every one by default).
  const workers = config.workerPartitions.map((partition) =>
    createOrderWorker(config, redis, log, metrics, parts, partition),
  );
  // And one per partition of the holds queue: the expiry timers of the held orders of its products.
  const holdWorkers = config.workerPartitions.map((partition) =>
    createHoldWorker(config, redis, log, parts, partition, metrics),
  );
  let publishFailures = 0;
  const stopPublishing = publishMetrics(redis, keys, metrics.registry, id, (error) => {
    if (publishFailures++ % 60 === 0) log('warn', 'could not publish metrics', errorFields(error));
  });
  let decided = 0;
  for (const worker of workers) worker.on('completed', (job) => (decided += ordersOf(job.data).length));
  const stats = setInterval(() => {
    if (decided > 0) log('info', 'orders decided', { count: decided, perSecond: decided / 5 });
    decided = 0;
  }, 5000);
  stats.unref();

  // With WEBHOOK_URL: the relay of this process's partitions and their delivery workers.
  const webhooks = config.webhooks ? startWebhooks(config, config.webhooks, redis, log, metrics) : undefined;
  // Every queue of each partition: a partition with work that no live worker announces is flagged.
  const partitions = queuesByPartition(queues.all, holdsQueues.all, webhooks?.queues ?? []);

  const stopReconciler = startReconciler(
    {
      redis,
      keys,
      queues,
      afterMs: config.reconcile.afterMs,
      orderRetentionMs: config.orderRetentionMs,
      holds: parts.holdRules,
      partitions,
      retired: retiredQueues,
      intervalMs: config.reconcile.intervalMs,
    },
    (report) => {
      metrics.observeFailed(report.failed);
      if (report.checked > 0 || report.expiredUnits > 0) log('info', 'reconciled overdue orders', { ...report });
      // Every pass while it lasts: orders of such a partition wait `queued` for as long as nobody serves it.
      if (report.unserved.length > 0)
        log('warn', 'partitions have waiting work and no worker', {
          message: describeUnserved(report.unserved),
          unserved: report.unserved,
        });
    },
    (error) => log('warn', 'reconciler failed', errorFields(error)),
  );

  for (const worker of [...workers, ...holdWorkers]) void worker.run().catch(() => {});
  await Promise.all([...[...workers, ...holdWorkers].map((worker) => worker.waitUntilReady()), webhooks?.ready]);
  // Announced once its workers are ready, so no partition reads as served before it is.
  let announceFailures = 0;
  const stopAnnouncing = announcePartitions(redis, keys, id, config.workerPartitions, (error) => {
    if (announceFailures++ % 60 === 0) log('warn', 'could not announce the served partitions', errorFields(error));
  });
  const health =
    config.workerHealthPort === undefined
      ? undefined
      : await listen(
          healthHandler(createWorkerReadiness({ redis, keys, partitions }), log),
          config.workerHealthPort,
          config.host,
          config.http,
        );
  log('info', 'worker ready', {
    ...(health ? { healthPort: health.port } : {}),
    pid: process.pid,
    concurrency: config.workerConcurrency,
    partitions: config.workerPartitions,
    webhooks: webhooks !== undefined,
  });

  return async () => {
    clearInterval(stats);
    webhookEvents.stop();
    stopReconciler();
    // Withdrawn first: from now on this process's partitions read as unserved unless another worker serves them.
    stopAnnouncing();
    await health?.close();
    // Stopped first: an outbox entry read but not yet added stays in its stream for the next relay.
    await webhooks?.stopRelay();
    // Deliveries in flight end alongside the orders' jobs, within the same deadline.
    const webhooksClosed = webhooks?.close(config.shutdownTimeoutMs);
    // Let active jobs finish (their locks are released as each `using` ends), within the deadline;
    // past it, force-close: unfinished jobs stall and another worker redoes them idempotently.
    const finished = Promise.all([...workers, ...holdWorkers].map((worker) => worker.close())).then(() => true);
    const inTime = await Promise.race([finished, sleep(config.shutdownTimeoutMs).then(() => false)]);
    if (!inTime) {
      log('warn', 'active jobs did not finish in time; closing anyway', { deadlineMs: config.shutdownTimeoutMs });
      await Promise.all([...workers, ...holdWorkers].map((worker) => worker.close(true)));
    }
    await webhooksClosed;
    stopPublishing();
    await Promise.all([queues.close(), holdsQueues.close(), ...retiredQueues.map((queue) => queue.close())]);
    await redis.quit().catch(() => redis.disconnect());
  };
});
