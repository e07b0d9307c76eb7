import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue, Worker } from 'bullmq';
import {
  connectRedis,
  createDeliverer,
  createWebhookQueues,
  createWorkerMetrics,
  jobOfEntry,
  loadConfig,
  verifyWebhookSignature,
  type Config,
  type RedisClient,
  type WebhookJob,
  type WebhookSettings,
} from '@flashline/core';
import { outboxFields, useRedisServer } from '@flashline/test-utils';
import { createWebhookWorker, type DeliveryResult } from '../src/webhookWorker.ts';

const SECRET = 'whsec-worker-0123456789abcdef';

describe('webhook delivery worker', () => {
  const ctx = useRedisServer({
    beforeStop: async () => {
      await worker.close();
      await queue.close();
      redis.disconnect();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
  let server: Server;
  let config: Config;
  let redis: RedisClient;
  let queue: Queue<WebhookJob, DeliveryResult>;
  let worker: Worker<WebhookJob, DeliveryResult>;
  /** Each request's arrival time and whether it verified; the first `failFirst` are answered 500. */
  const arrivals: { at: number; signed: boolean }[] = [];
  let failFirst = 0;
  const metrics = createWorkerMetrics();
  const attemptsBy = async (outcome: string) =>
    (await metrics.registry.getSingleMetric('flashline_webhook_deliveries_total')?.get())?.values.find(
      (v) => v.labels.outcome === outcome,
    )?.value ?? 0;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const header = req.headers['flashline-signature'];
        arrivals.push({
          at: Date.now(),
          signed: verifyWebhookSignature(String(header), Buffer.concat(chunks), SECRET),
        });
        res.statusCode = arrivals.length <= failFirst ? 500 : 200;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    config = loadConfig({
      REDIS_URL: ctx.server.url,
      KEY_PREFIX: 'whw',
      WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_BACKOFF_BASE_MS: '200',
    });
    const settings = config.webhooks as WebhookSettings;
    redis = connectRedis(config, 'worker');
    queue = createWebhookQueues(config, settings, redis)[0]! as Queue<WebhookJob, DeliveryResult>;
    worker = createWebhookWorker(config, settings, redis, createDeliverer(settings), () => {}, metrics, 0);
    void worker.run();
    await worker.waitUntilReady();
  });

  const jobOf = (orderId: string, fields: Partial<Record<string, string>> = {}) => {
    const job = jobOfEntry(
      outboxFields({
        orderId,
        productId: 'tv',
        userId: 'u',
        quantity: 1,
        type: 'order.confirmed',
        seq: 1,
        at: Date.now(),
      }).map(String),
    )!;
    return { ...job, order: { ...job.order, ...fields } as Record<string, string> };
  };
  async function finished(id: string) {
    for (let i = 0; i < 100; i++) {
      const job = await queue.getJob(id);
      if (job?.finishedOn) return job;
      await sleep(50);
    }
    throw new Error(`job ${id} never finished`);
  }

  it('retries a refused delivery with the doubling backoff (200 ms, then 400 ms) until a 2xx', async () => {
    arrivals.length = 0;
    failFirst = 2;
    const job = jobOf('tv.RETRYAAAAAAAAAA');
    await queue.add(job.type, job, { jobId: job.event });
    const done = await finished(job.event);
    assert.equal(done.returnvalue?.status, 200);
    assert.equal(done.attemptsMade, 3);
    assert.equal(arrivals.length, 3);
    assert.ok(arrivals.every((a) => a.signed));
    assert.deepEqual(
      [await attemptsBy('refused'), await attemptsBy('delivered')],
      [2, 1],
      'the attempts were not counted',
    );
    const gaps = [arrivals[1]!.at - arrivals[0]!.at, arrivals[2]!.at - arrivals[1]!.at];
    assert.ok(gaps[0]! >= 190 && gaps[0]! < 390, `first retry after ${gaps[0]} ms`);
    assert.ok(gaps[1]! >= 390 && gaps[1]! < 790, `second retry after ${gaps[1]} ms`);
  });

  it('fails a job that is not a whole order event at once, sending nothing', async () => {
    arrivals.length = 0;
    failFirst = 0;
    const job = jobOf('tv.BROKENAAAAAAAAAA', { seq: '7' });
    await queue.add(job.type, job, { jobId: job.event });
    const done = await finished(job.event);
    assert.equal(await done.getState(), 'failed');
    assert.equal(done.attemptsMade, 1);
    assert.match(done.failedReason, /not an order event/);
    assert.equal(arrivals.length, 0);
    assert.equal(await attemptsBy('malformed'), 1);
  });
});
