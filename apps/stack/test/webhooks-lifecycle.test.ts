import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyWebhookSignature, type WebhookEvent } from '@flashline/core';
import {
  check,
  planOrders,
  products,
  setUpProducts,
  startShop,
  startSystem,
  submitBurst,
  violations,
  workerWithActiveJob,
} from '@flashline/test-utils';

const SECRET = 'whsec-lifecycle-0123456789';

/** A receiver that refuses one request in ten (500): the deliveries are retried. Every signature checked. */
async function receiver() {
  const events = new Map<string, WebhookEvent>();
  let received = 0;
  let badSignatures = 0;
  let refused = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received += 1;
      const raw = Buffer.concat(chunks);
      const header = req.headers['flashline-signature'];
      if (!verifyWebhookSignature(typeof header === 'string' ? header : undefined, raw, SECRET)) {
        badSignatures += 1;
        res.statusCode = 400;
        res.end();
        return;
      }
      if (received % 10 === 0) {
        refused += 1;
        res.statusCode = 500;
        res.end();
        return;
      }
      const event = JSON.parse(raw.toString()) as WebhookEvent;
      events.set(event.id, event);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    events,
    stats: () => ({ received, badSignatures, refused }),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The events an order's end implies, in sequence: what the shop must have been told. */
const HISTORY: Record<string, string[]> = {
  rejected: ['order.rejected'],
  confirmed: ['order.reserved', 'order.confirmed'],
  cancelled: ['order.reserved', 'order.cancelled'],
  expired: ['order.reserved', 'order.expired'],
  reserved: ['order.reserved'],
};

describe('webhooks from the order lifecycle (the scripts write the events)', () => {
  it('a sale with holds, a shop and a worker killed: every change of every order is delivered, signed, in sequence', async (t) => {
    const hooks = await receiver();
    const system = await startSystem({
      workers: 2,
      env: {
        WEBHOOK_URL: hooks.url,
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_BACKOFF_BASE_MS: '50',
        WEBHOOK_TIMEOUT_MS: '1000',
      },
    });
    try {
      const plan = products(5, 100).map((p) => ({ ...p, holdSeconds: 1 }));
      await setUpProducts(system.apiUrl, plan);
      const shop = startShop(system.apiUrl, { confirm: 0.4, cancel: 0.2, maxDelayMs: 1500, seed: 9 });
      const burst = submitBurst(system.apiUrl, planOrders(plan, 900, 31), {
        concurrency: 16,
        onOutcome: shop.onOutcome,
      });
      // A worker killed while it runs a job: its deliveries and relay move to the other.
      const killed = await workerWithActiveJob(system, () => false);
      if (killed !== undefined) await system.stopWorker(killed, 'SIGKILL');
      const outcomes = await burst;
      if (killed !== undefined) await system.startWorker(killed);
      const report = await check(system, plan, outcomes, { shop: await shop.done() });
      assert.deepEqual(violations(report), {});
      // Every hold ends (1 s) before the events are compared.
      await sleep(2500);

      const orders = outcomes.flatMap((o) => (o.orderId ? [o.orderId] : []));
      const expected = new Map<string, string[]>();
      for (const orderId of orders) {
        const reply = await fetch(`${system.apiUrl}/orders/${orderId}`);
        const order = (await reply.json()) as { status: string };
        expected.set(orderId, HISTORY[order.status]!);
      }
      const want = [...expected.values()].reduce((n, h) => n + h.length, 0);
      for (const deadline = Date.now() + 30_000; hooks.events.size < want && Date.now() < deadline;) await sleep(200);
      t.diagnostic(
        `events ${hooks.events.size} of ${want}; ${JSON.stringify(hooks.stats())}; report ${JSON.stringify(report.decided)}`,
      );
      assert.equal(hooks.stats().badSignatures, 0);
      assert.ok(hooks.stats().refused > 0, 'no delivery was refused and retried');
      for (const [orderId, history] of expected) {
        const got = history.map((_, i) => hooks.events.get(`${orderId}.${i + 1}`));
        assert.deepEqual(
          got.map((e) => e?.type),
          history,
          `${orderId}: events ${JSON.stringify(got.map((e) => e?.type))}, expected ${JSON.stringify(history)}`,
        );
        got.forEach((event, i) => {
          assert.equal(event!.sequence, i + 1);
          assert.equal(event!.data.order.orderId, orderId);
        });
        // The last event carries the order as it ended.
        assert.equal(got.at(-1)!.data.order.status, history.at(-1)!.replace('order.', ''));
        assert.equal(hooks.events.get(`${orderId}.${history.length + 1}`), undefined, `${orderId}: an event too many`);
      }
    } finally {
      await system.stop();
      await hooks.close();
    }
  });
});
