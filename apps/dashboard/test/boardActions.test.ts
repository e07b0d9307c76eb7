import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ORDERS_QUEUE, newOrderId, type OrdersJobData } from '@flashline/core';
import {
  SYSTEM_ADMIN_TOKEN,
  requestJson,
  startSystem,
  submitOrders,
  waitUntilDecided,
  type System,
} from '@flashline/test-utils';
import { ADMIN, dashboardOn, type DashboardFixture } from './fixture.ts';

const api = (path: string) => `/admin/queues/api/queues/${ORDERS_QUEUE}${path}`;

/**
 * Bull Board's job actions, through its real routes as the admin, against a running system: none of
 * them may decide an order the API did not accept, or apply an accepted one twice, even after the
 * order's record expired (ORDER_RETENTION_S of 2 s here, while jobs are kept for hours).
 */
describe('Bull Board actions as the admin: no minted order, none applied twice', () => {
  let system: System;
  let fixture: DashboardFixture;
  const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };

  before(async () => {
    system = await startSystem({ workers: 1, env: { ORDER_RETENTION_S: '2', IDEMPOTENCY_TTL_S: '2' } });
    fixture = dashboardOn(system.redis, system.prefix);
  });
  after(async () => {
    await fixture.close();
    await system.stop();
  });

  const board = () => request(fixture.app);
  const product = async () => (await requestJson(`${system.apiUrl}/products/tv`)).body;
  const ledger = () => fixture.redis.hgetall(fixture.keys.buyers('tv'));
  /** Until no job is waiting, active or delayed (retries back off), and the last one has settled. */
  async function untilQueueIdle(): Promise<void> {
    for (let i = 0; i < 150; i++) {
      const counts = await fixture.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(counts).every((n) => n === 0)) return;
      await sleep(100);
    }
    assert.fail('the queue did not drain');
  }

  it('adding a job by hand, duplicating one, retrying all completed, and retrying after retention change nothing', async () => {
    assert.equal(
      (await requestJson(`${system.apiUrl}/products/tv`, { method: 'PUT', body: { stock: 10 }, headers: admin }))
        .status,
      200,
    );
    const [accepted] = await submitOrders(system.apiUrl, [{ productId: 'tv', userId: 'alice', quantity: 1 }], 1);
    assert.equal(accepted?.status, 202);
    const orderId = accepted.orderId!;
    assert.equal((await waitUntilDecided(system.apiUrl, [orderId], 10_000)).get(orderId)?.status, 'confirmed');
    await untilQueueIdle();
    const [done] = await fixture.queue.getCompleted();
    assert.ok(done?.id, 'no completed job to act on');
    const data = done.data as OrdersJobData;

    // "Add job": an order nobody accepted.
    const minted = newOrderId('tv');
    const add = await board()
      .post(api('/add'))
      .auth(ADMIN.user, ADMIN.password)
      .send({
        name: 'order',
        data: { orders: [{ orderId: minted, productId: 'tv', userId: 'mallory', quantity: 3 }] },
        options: {},
      });
    assert.equal(add.status, 200);
    // "Duplicate": the completed job's data, added again.
    const duplicate = await board()
      .post(api('/add'))
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'order', data, options: {} });
    assert.equal(duplicate.status, 200);
    // "Retry all" of the completed jobs.
    assert.equal((await board().put(api('/retry/completed')).auth(ADMIN.user, ADMIN.password)).status, 200);
    await untilQueueIdle();

    assert.equal((await requestJson(`${system.apiUrl}/orders/${minted}`)).status, 404, 'a minted order was decided');
    const mintedJob = await fixture.queue.getJob(String((add.body as { job: { id: string } }).job.id));
    assert.deepEqual(mintedJob?.returnvalue, { unknown: 1 }, 'the minted job did not say its order was unknown');
    assert.deepEqual(await ledger(), { alice: '1' });
    const afterActions = await product();
    assert.equal(afterActions.stock, 9, 'stock moved for an order applied twice or a minted one');
    assert.equal(afterActions.sold, 1);

    // The order's record expires (its retention), the jobs naming it stay; an operator retries them.
    for (let i = 0; i < 50 && (await requestJson(`${system.apiUrl}/orders/${orderId}`)).status !== 404; i++)
      await sleep(100);
    assert.equal((await requestJson(`${system.apiUrl}/orders/${orderId}`)).status, 404, 'the order did not expire');
    const retry = await board()
      .put(api(`/${encodeURIComponent(done.id)}/retry`))
      .auth(ADMIN.user, ADMIN.password);
    assert.equal(retry.status, 204);
    // The minted job completed (its order refused, nothing written); retry it and every other once more.
    assert.equal((await board().put(api('/retry/completed')).auth(ADMIN.user, ADMIN.password)).status, 200);
    await untilQueueIdle();

    assert.deepEqual(await ledger(), { alice: '1' }, 'the buyer was charged twice');
    const afterRetention = await product();
    assert.equal(afterRetention.stock, 9, 'a retry after retention applied the order again');
    assert.equal(afterRetention.sold, 1);
    assert.equal((await requestJson(`${system.apiUrl}/orders/${orderId}`)).status, 404, 'a retry re-created the order');
  });
});
