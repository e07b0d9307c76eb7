import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PRODUCT_GROUPS,
  createKeys,
  createWebhookQueues,
  verifyWebhookSignature,
  type WebhookEvent,
} from '@flashline/core';
import { manyEvents, startSystem, writeOutboxEvents, type System } from '@flashline/test-utils';

const SECRET = 'whsec-e2e-0123456789abcdef';
const EVENTS = 3000;

/**
 * The shop's receiver at its worst, at random: 15% of requests answered 500, 5% never answered (the
 * worker's 300 ms timeout ends them), 15% answered after up to 250 ms; the rest 200 at once. It checks
 * every signature, and records which events it acknowledged (a 2xx).
 */
async function unreliableReceiver(random: () => number) {
  const acknowledged = new Map<string, number>();
  const stats = { requests: 0, badSignatures: 0, badBodies: 0, failed: 0, hung: 0, slow: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      stats.requests += 1;
      const raw = Buffer.concat(chunks);
      const header = req.headers['flashline-signature'];
      if (!verifyWebhookSignature(typeof header === 'string' ? header : undefined, raw, SECRET)) {
        stats.badSignatures += 1;
        res.statusCode = 400;
        res.end();
        return;
      }
      const event = JSON.parse(raw.toString()) as WebhookEvent;
      if (
        event.id !== `${event.data.order.orderId}.${event.sequence}` ||
        event.type !== 'order.confirmed' ||
        Number.isNaN(Date.parse(event.createdAt))
      )
        stats.badBodies += 1;
      const roll = random();
      if (roll < 0.15) {
        stats.failed += 1;
        res.statusCode = 500;
        res.end('try later');
        return;
      }
      if (roll < 0.2) {
        stats.hung += 1;
        return;
      }
      const answer = () => {
        acknowledged.set(event.id, (acknowledged.get(event.id) ?? 0) + 1);
        res.statusCode = 200;
        res.end();
      };
      if (roll < 0.35) {
        stats.slow += 1;
        setTimeout(answer, random() * 250);
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/flashline`,
    acknowledged,
    stats,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A seeded generator (mulberry32): the same faults on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('webhooks end to end: worker processes, an unreliable receiver, kill -9', () => {
  let system: System;
  let receiver: Awaited<ReturnType<typeof unreliableReceiver>>;

  before(async () => {
    receiver = await unreliableReceiver(seeded(11));
    system = await startSystem({
      workers: 3,
      env: {
        QUEUE_PARTITIONS: '4',
        WEBHOOK_URL: receiver.url,
        WEBHOOK_SECRET: SECRET,
        // Test-only pace: retries from 50 ms (not 1 s), a 300 ms timeout, an idle relay reading every 50 ms.
        WEBHOOK_BACKOFF_BASE_MS: '50',
        WEBHOOK_TIMEOUT_MS: '300',
        WEBHOOK_RELAY_IDLE_MS: '50',
        WEBHOOK_CONCURRENCY: '8',
      },
    });
  });
  after(async () => {
    await system?.stop();
    await receiver?.close();
  });

  it('every event arrives, signed, at least once, though workers are killed mid-delivery', async (t) => {
    const keys = createKeys(system.prefix);
    const events = manyEvents(EVENTS, 200);
    const ids: string[] = [];
    // Written in waves while the workers are killed in turn and restarted.
    const writing = (async () => {
      for (let i = 0; i < events.length; i += 100) {
        ids.push(...(await writeOutboxEvents(system.client, keys, events.slice(i, i + 100))));
        await sleep(15);
      }
    })();
    let kills = 0;
    for (const index of [0, 1, 2, 0, 1]) {
      await sleep(400);
      await system.stopWorker(index, 'SIGKILL');
      kills += 1;
      await sleep(200);
      await system.startWorker(index);
    }
    await writing;

    const missing = () => ids.filter((id) => !receiver.acknowledged.has(id));
    for (const deadline = Date.now() + 90_000; missing().length > 0 && Date.now() < deadline;) await sleep(200);
    const duplicates = [...receiver.acknowledged.values()].filter((n) => n > 1).length;
    t.diagnostic(
      `kills ${kills}, receiver ${JSON.stringify(receiver.stats)}, acknowledged twice or more ${duplicates}`,
    );

    assert.equal(ids.length, EVENTS);
    assert.deepEqual(missing().slice(0, 10), [], `${missing().length} events never acknowledged`);
    assert.equal(receiver.stats.badSignatures, 0, 'a request did not carry a valid signature');
    assert.equal(receiver.stats.badBodies, 0, 'a body did not match its event');
    assert.ok(
      receiver.stats.failed > 0 && receiver.stats.hung > 0 && receiver.stats.slow > 0,
      'a fault never happened',
    );
    let left = 0;
    for (let group = 0; group < PRODUCT_GROUPS; group++) left += await system.client.xlen(keys.outbox(group));
    assert.equal(left, 0, 'outbox entries were left behind');
    const queues = createWebhookQueues(system.config, { backoffBaseMs: 50 }, system.client);
    const failed = await Promise.all(queues.map((queue) => queue.getFailedCount()));
    await Promise.all(queues.map((queue) => queue.close()));
    assert.deepEqual(failed, [0, 0, 0, 0], 'a delivery failed for good');
  });
});
