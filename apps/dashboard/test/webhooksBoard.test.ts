import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { WEBHOOKS_QUEUE, jobOfEntry, verifyWebhookSignature, type WebhookEvent } from '@flashline/core';
import { outboxFields, startSystem, type System } from '@flashline/test-utils';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

const SECRET = 'whsec-board-0123456789abcdef';
const api = (path: string) => `/admin/queues/api/queues/${WEBHOOKS_QUEUE}${path}`;

interface BoardQueues {
  queues: { name: string; counts: Record<string, number>; jobs: { id: string; data: Record<string, unknown> }[] }[];
}

/**
 * A failed delivery on Bull Board, against a running worker process: the viewer sees it with the
 * buyer pseudonymized and cannot retry it; the admin retries it and the worker delivers it, signed.
 */
describe('webhooks on Bull Board: a failed delivery, retried by the admin, is delivered', () => {
  let system: System;
  let fixture: DashboardFixture;
  let server: Server;
  let up = false;
  const received: { body: string; signed: boolean }[] = [];
  const env = () => ({
    WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    WEBHOOK_SECRET: SECRET,
  });

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const header = req.headers['flashline-signature'];
        received.push({ body, signed: verifyWebhookSignature(String(header), body, SECRET) });
        res.statusCode = up ? 200 : 503;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    system = await startSystem({ workers: 1, env: { ...env(), WEBHOOK_BACKOFF_BASE_MS: '50' } });
    fixture = dashboardOn(system.redis, system.prefix, { env: env() });
  });
  after(async () => {
    await fixture?.close();
    await system?.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const board = () => request(fixture.app);
  async function until(what: string, done: () => Promise<boolean>) {
    for (let i = 0; i < 100; i++) {
      if (await done()) return;
      await sleep(100);
    }
    assert.fail(`never: ${what}`);
  }

  it('shows the viewer the failed delivery redacted, and the admin retry delivers it', async () => {
    const queue = fixture.webhooks[0];
    assert.ok(queue, 'no webhooks queue on the board');
    // The relay's job for one outbox entry, added with its attempts already down to the last one: a
    // stand-in for a delivery that spent its 24 hours of retries.
    const job = jobOfEntry(
      outboxFields({
        orderId: 'tv.BOARDAAAAAAAAAAA',
        productId: 'tv',
        userId: 'alice',
        quantity: 2,
        type: 'order.confirmed',
        seq: 1,
        at: Date.now(),
      }).map(String),
    );
    assert.ok(job);
    await queue.add(job.type, job, { jobId: job.event, attempts: 1 });
    await until('the delivery failed', async () => (await queue.getFailedCount()) === 1);
    assert.equal(received.length, 1);

    const list = await board()
      .get(`/admin/queues/api/queues?activeQueue=${WEBHOOKS_QUEUE}&status=failed`)
      .auth(VIEWER.user, VIEWER.password)
      .expect(200);
    const shown = (list.body as BoardQueues).queues.find((q) => q.name === WEBHOOKS_QUEUE);
    assert.ok(shown, 'the webhooks queue is not on the viewer board');
    assert.equal(shown.counts.failed, 1);
    const [failed] = shown.jobs;
    assert.equal(failed?.id, job.event);
    assert.doesNotMatch(JSON.stringify(failed?.data), /alice/, 'the viewer sees the buyer id');
    assert.equal(failed?.data.type, 'order.confirmed');
    await board()
      .put(api(`/${encodeURIComponent(job.event)}/retry`))
      .auth(VIEWER.user, VIEWER.password)
      .expect(403);

    up = true;
    await board()
      .put(api(`/${encodeURIComponent(job.event)}/retry`))
      .auth(ADMIN.user, ADMIN.password)
      .expect(204);
    await until('the retried delivery completed', async () => (await queue.getCompletedCount()) === 1);
    assert.equal(received.length, 2);
    const delivered = received[1]!;
    assert.ok(delivered.signed, 'the retried delivery is not signed');
    const event = JSON.parse(delivered.body) as WebhookEvent;
    assert.equal(event.id, job.event);
    assert.equal(event.sequence, 1);
    assert.equal(event.data.order.userId, 'alice', 'the shop gets the real buyer id');
    assert.equal(event.data.order.quantity, 2);
  });
});
