/**
 * `node --import tsx apps/bench/src/webhooks/backlogCost.ts [events] [settle seconds]`: what a pending webhook event costs
 * Redis while the shop's receiver is down. A private redis-server (no AOF), one worker process whose
 * WEBHOOK_URL refuses every connection; 100,000 events (realistic ids: a 16-character order id, a
 * 12-character buyer id) written to the outbox as the commit scripts write them; once the relay has
 * taken them and the deliveries have failed a first time, `used_memory` minus what it was before the
 * events, per event. Not part of `npm run bench`; its figure is in docs/webhooks.md.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeys } from '@flashline/core';
import { startApp, startRedis, writeOutboxEvents, type OutboxEvent } from '@flashline/test-utils';

const EVENTS = Number(process.argv[2] ?? 100_000);
const SETTLE_S = Number(process.argv[3] ?? 30);

const redis = await startRedis({ appendonly: false });
const env = {
  REDIS_URL: redis.url,
  KEY_PREFIX: 'cost',
  // Port 9 (discard) answers nothing on localhost: every attempt is a connection error, retried later.
  WEBHOOK_URL: 'http://127.0.0.1:9/hooks',
  WEBHOOK_SECRET: 'whsec-cost-0123456789',
};
const worker = startApp('apps/worker/src/main.ts', env);
await worker.waitForLog(/worker ready/, 30_000);
await sleep(2000);
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.client.info('memory'))?.[1]);
const before = await usedMemory();

const keys = createKeys('cost');
const at = Date.now();
const events: OutboxEvent[] = Array.from({ length: EVENTS }, (_, i) => ({
  orderId: `p${i % 50}.${randomBytes(12).toString('base64url')}`,
  productId: `p${i % 50}`,
  userId: `buyer-${String(i).padStart(6, '0')}`,
  quantity: 1,
  type: 'order.confirmed',
  seq: 1,
  at: at + i,
}));
for (let i = 0; i < events.length; i += 1000) await writeOutboxEvents(redis.client, keys, events.slice(i, i + 1000));
const written = await usedMemory();

// The relay moves what it may; the deliveries fail their first attempts and wait for a retry.
await sleep(SETTLE_S * 1000);
const pending = await usedMemory();
await worker.stop();
await redis.stop();
const perEvent = (bytes: number) => Math.round(bytes / EVENTS);
console.log(
  JSON.stringify({
    events: EVENTS,
    bytesPerEventInOutbox: perEvent(written - before),
    bytesPerPendingEvent: perEvent(pending - before),
    usedMemoryMB: {
      before: (before / 1e6).toFixed(1),
      written: (written / 1e6).toFixed(1),
      pending: (pending / 1e6).toFixed(1),
    },
  }),
);
