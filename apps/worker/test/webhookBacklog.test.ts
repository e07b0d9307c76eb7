import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import {
  PRODUCT_GROUPS,
  connectRedis,
  createKeys,
  createWebhookQueues,
  createWorkerMetrics,
  holdRulesOf,
  loadConfig,
  readWebhookBacklogs,
  setProduct,
  settleHold,
  verifyWebhookSignature,
  type Config,
  type RedisClient,
  type WebhookEvent,
  type WebhookSettings,
} from '@flashline/core';
import { startRedis, testAcceptor, type TestRedis } from '@flashline/test-utils';
import { createOrderWorker, createWorkerParts } from '../src/orderWorker.ts';
import { startWebhooks } from '../src/webhooks.ts';

const SECRET = 'whsec-backlog-0123456789abcdef';
/** Orders of held units: each writes two events, `order.reserved` and (the shop confirms it) `order.confirmed`. */
const ORDERS = 100_000;
const EVENTS = 2 * ORDERS;
/** Orders accepted (and confirmed) at once, as many buyers' requests would be. */
const CHUNK = 2000;
const PRODUCTS = 64;
/** Events kept waiting (per partition; one partition here) while the receiver is down. */
const BUDGET = 10_000;

/**
 * The receiver is down (503) for the whole sale of 100,000 orders of held units, confirmed by the shop:
 * 200,000 events, on a Redis of 128 MB. 200,000 pending deliveries as BullMQ jobs (1.4 kB and more
 * each) would not fit beside the orders' own records, and the accepts and commits would be refused.
 */
describe('a webhook receiver down for a whole sale (200,000 events, Redis maxmemory 128 MB)', () => {
  let server: TestRedis;
  let receiver: Server;
  let config: Config;
  let redis: RedisClient;
  let producer: RedisClient;
  let orderWorker: Worker;
  let webhooks: ReturnType<typeof startWebhooks>;
  let parts: ReturnType<typeof createWorkerParts>;
  let up = false;
  const delivered = new Map<string, number>();
  let badSignatures = 0;
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const metrics = createWorkerMetrics();
  let queues: ReturnType<typeof createWebhookQueues>;

  before(async () => {
    server = await startRedis({ maxmemory: '128mb' });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (!up) {
          res.statusCode = 503;
          res.end();
          return;
        }
        const raw = Buffer.concat(chunks);
        if (!verifyWebhookSignature(String(req.headers['flashline-signature']), raw, SECRET)) badSignatures += 1;
        const event = JSON.parse(raw.toString()) as WebhookEvent;
        delivered.set(event.id, (delivered.get(event.id) ?? 0) + 1);
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    config = loadConfig({
      REDIS_URL: server.url,
      KEY_PREFIX: 'wbl',
      WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_BACKLOG_MAX: String(BUDGET),
      WEBHOOK_RELAY_BATCH: '100',
      // Test-only pace: retries from 1 ms (they double: the last wait is about as long as the outage).
      WEBHOOK_BACKOFF_BASE_MS: '1',
      WEBHOOK_RELAY_IDLE_MS: '50',
      WEBHOOK_CONCURRENCY: '32',
      // Thousands of accepts at once on a loaded machine: what is measured is memory, not latency.
      REDIS_TIMEOUT_MS: '10000',
    });
    redis = connectRedis(config, 'worker');
    producer = connectRedis(config, 'producer');
    parts = createWorkerParts(config, redis);
    orderWorker = createOrderWorker(config, redis, () => {}, undefined, parts, 0);
    void orderWorker.run();
    await orderWorker.waitUntilReady();
    const log = (level: string, msg: string, fields?: Record<string, unknown>) => logs.push({ level, msg, fields });
    queues = createWebhookQueues(config, config.webhooks as WebhookSettings, producer);
    webhooks = startWebhooks(config, config.webhooks as WebhookSettings, redis, log, metrics);
    await webhooks.ready;
  });
  after(async () => {
    await webhooks?.stopRelay();
    await webhooks?.close(1000);
    await orderWorker?.close();
    await Promise.all((queues ?? []).map((queue) => queue.close()));
    await parts?.queues.close();
    await parts?.holdsQueues.close();
    redis?.disconnect();
    producer?.disconnect();
    receiver?.closeAllConnections();
    await new Promise((resolve) => receiver?.close(resolve));
    await server?.stop();
  });

  it('accepts and decides every order; once the receiver is back, delivers every event within the budget and counts the others', async (t) => {
    const keys = createKeys('wbl');
    const products = Array.from({ length: PRODUCTS }, (_, i) => `sale${i}`);
    for (const productId of products) await setProduct(producer, keys, productId, { stock: ORDERS, holdSeconds: 3600 });
    const acceptor = testAcceptor({ redis: producer, keys, queues: parts.queues });
    const started = Date.now();
    const orderIds: string[] = [];
    for (let i = 0; i < ORDERS; i += CHUNK) {
      const outcomes = await Promise.all(
        Array.from({ length: CHUNK }, (_, j) =>
          acceptor.accept({ productId: products[(i + j) % PRODUCTS]!, userId: `buyer${i + j}`, quantity: 1 }),
        ),
      );
      for (const outcome of outcomes) {
        if (outcome.kind === 'accepted') orderIds.push(outcome.orderId);
        else assert.fail(`order ${i}: refused ${outcome.error.code} (${outcome.error.message})`);
      }
    }
    assert.equal(orderIds.length, ORDERS);
    const acceptedMs = Date.now() - started;

    const units = async (field: 'reserved' | 'sold') => {
      let total = 0;
      for (const productId of products) total += Number(await producer.hget(keys.product(productId), field));
      return total;
    };
    for (const deadline = Date.now() + 120_000; (await units('reserved')) < ORDERS && Date.now() < deadline;)
      await sleep(200);
    assert.equal(await units('reserved'), ORDERS, 'some orders were never decided');
    const decidedMs = Date.now() - started;
    // The shop confirms every payment (the API's confirm, with its events).
    const rules = holdRulesOf(config);
    for (let i = 0; i < ORDERS; i += CHUNK)
      await Promise.all(
        orderIds.slice(i, i + CHUNK).map((orderId) => settleHold(producer, keys, orderId, 'confirm', rules)),
      );
    assert.equal(await units('sold'), ORDERS, 'some orders were not confirmed');
    // The relay has taken every event from the outbox streams (into its compact backlog).
    const outboxes = async () => {
      let entries = 0;
      for (let group = 0; group < PRODUCT_GROUPS; group++) entries += await producer.xlen(keys.outbox(group));
      return entries;
    };
    for (const deadline = Date.now() + 30_000; (await outboxes()) > 0 && Date.now() < deadline;) await sleep(100);
    const usedMb = Number(/used_memory:(\d+)/.exec(await producer.info('memory'))?.[1]) / 1e6;
    const [backlog] = await readWebhookBacklogs(producer, keys, queues);
    t.diagnostic(
      `accepted ${acceptedMs} ms, decided ${decidedMs} ms, confirmed ${Date.now() - started} ms, used ${usedMb.toFixed(1)} MB, backlog ${JSON.stringify(backlog)}, delivered so far ${delivered.size}`,
    );
    assert.equal(delivered.size, 0, 'the receiver was down, yet events arrived');
    assert.ok(backlog!.dropped > 0 && backlog!.pending <= BUDGET, `backlog ${JSON.stringify(backlog)}`);
    const warned = logs.find((line) => line.level === 'warn' && /webhook backlog full/.test(line.msg));
    assert.ok(warned, 'no log line said that events were dropped');

    up = true;
    const settled = async () => {
      const [now] = await readWebhookBacklogs(producer, keys, queues);
      return now!.pending === 0 && now!.inFlight === 0;
    };
    for (const deadline = Date.now() + 180_000; !(await settled()) && Date.now() < deadline;) await sleep(250);
    const deliveredMs = Date.now() - started;
    const [end] = await readWebhookBacklogs(producer, keys, queues);
    const droppedMetric =
      (await metrics.registry.getSingleMetric('flashline_webhook_events_dropped_total')?.get())?.values[0]?.value ?? 0;
    t.diagnostic(
      `after ${deliveredMs} ms: ${JSON.stringify(end)}, delivered ${delivered.size}, dropped (metric) ${droppedMetric}`,
    );
    assert.equal(badSignatures, 0);
    // Whether the retries were sent at once ("webhook receiver answers again") depends on how long the receiver
    // was down (30 s or more): a fast machine finishes the sale sooner. Settling above within the time is the check.
    assert.deepEqual(end, { ...end, pending: 0, inFlight: 0 });
    assert.ok(delivered.size >= BUDGET, `only ${delivered.size} events delivered, fewer than the budget`);
    assert.equal(delivered.size + end.dropped, EVENTS, 'delivered + dropped is not every event');
    assert.equal(droppedMetric, end.dropped, 'the metric does not count what was dropped');
  });
});
