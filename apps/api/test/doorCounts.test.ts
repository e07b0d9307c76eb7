import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import {
  createApiMetrics,
  doorCountsOf,
  noDoorCounts,
  readDoorCounts,
  sumDoorCounts,
  type DoorCounts,
  type DoorOutcome,
} from '@flashline/core';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const HOUR = 3_600_000;

describe('the front door: each API publishes its answers by outcome, and they sum over processes', () => {
  const ctx = useApis();
  let one: ApiUnderTest;
  let two: ApiUnderTest;
  // Two API processes of one sale (one prefix), each publishing every 100 ms; a per-user limit of one
  // order a minute, so a second order of a buyer is rate limited whatever the clock.
  const env = { DOOR_PUBLISH_MS: '100', RATE_LIMIT_PER_USER: '1', RATE_LIMIT_WINDOW_MS: '60000' };

  before(async () => {
    one = await ctx.api('door', env);
    two = await ctx.api('door', env);
    const put = (productId: string, body: object) =>
      request(one.app).put(`/products/${productId}`).set(admin).send(body).expect(200);
    await put('open', { stock: 100 });
    await put('gone', { stock: 0 });
    await put('soon', { stock: 5, opensAt: new Date(Date.now() + HOUR).toISOString() });
    await put('over', { stock: 5, closesAt: new Date(Date.now() - 1000).toISOString() });
  });

  /** Sends `count` orders to `api` and checks each answer's status. */
  async function send(api: ApiUnderTest, count: number, body: (i: number) => object, status: number) {
    for (let i = 0; i < count; i++) await request(api.app).post('/orders').send(body(i)).expect(status);
  }
  const order = (productId: string, userId: string) => ({ productId, userId, quantity: 1 });

  it('counts a known mix on two apps, and the published copies sum to it', async () => {
    const before = sumDoorCounts(await readDoorCounts(ctx.server.client, one.keys));
    // One: 5 accepted + a buyer's second order (rate limited), 4 sold out, 2 not open, 1 closed, 2 invalid.
    await send(one, 5, (i) => order('open', `one-${i}`), 202);
    await send(one, 1, () => order('open', 'one-0'), 429);
    await send(one, 4, (i) => order('gone', `one-${i}`), 409);
    await send(one, 2, (i) => order('soon', `one-${i}`), 409);
    await send(one, 1, () => order('over', 'one-x'), 409);
    await send(one, 2, (i) => ({ productId: 'open', userId: `bad-${i}`, quantity: 0 }), 400);
    // Two: 3 accepted, 2 rate limited, 2 sold out, 1 not open, 2 closed, 1 unknown product (invalid).
    await send(two, 3, (i) => order('open', `two-${i}`), 202);
    await send(two, 2, (i) => order('open', `two-${i}`), 429);
    await send(two, 2, (i) => order('gone', `two-${i}`), 409);
    await send(two, 1, () => order('soon', 'two-x'), 409);
    await send(two, 2, (i) => order('over', `two-${i}`), 409);
    await send(two, 1, () => order('nothing', 'two-x'), 404);

    const expected = {
      accepted: 8,
      sold_out: 6,
      rate_limited: 3,
      not_open: 3,
      closed: 3,
      invalid: 3,
      unavailable: 0,
      other: 0,
    };
    let copies = await readDoorCounts(ctx.server.client, one.keys);
    let orders: DoorCounts['orders'] = noDoorCounts().orders;
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(50)) {
      copies = await readDoorCounts(ctx.server.client, one.keys);
      const sum = sumDoorCounts(copies);
      orders = Object.fromEntries(
        Object.entries(sum.orders).map(([outcome, n]) => [outcome, n - before.orders[outcome as DoorOutcome]]),
      ) as DoorCounts['orders'];
      if (JSON.stringify(orders) === JSON.stringify(expected)) break;
    }
    assert.deepEqual(orders, expected);
    assert.equal(copies.length, 2, 'one copy per app');
    assert.notEqual(copies[0]!.id, copies[1]!.id, 'two apps in one process share an id');
    // Every request counts once at the door: the 26 orders and the 4 PUTs of the set-up.
    assert.equal(
      copies.reduce((sum, copy) => sum + copy.requests, 0),
      30,
    );
  });

  it('names each refusal code an outcome: 503s as unavailable, anything unlisted as other', async () => {
    const metrics = createApiMetrics();
    metrics.ordersAccepted.inc(2);
    for (const code of ['unavailable', 'lock_unavailable', 'rate_limited', 'sale_closed', 'unauthorized', 'internal'])
      metrics.ordersRefused.labels(code).inc();
    metrics.httpRequests.labels('/orders', 'POST', '202').inc(2);
    const counts = await doorCountsOf(metrics);
    assert.deepEqual(counts, {
      requests: 2,
      orders: {
        accepted: 2,
        sold_out: 0,
        rate_limited: 1,
        not_open: 0,
        closed: 1,
        invalid: 1,
        unavailable: 2,
        other: 1,
      },
    });
  });

  it('drops a copy when its API stops publishing (its connection ended)', async () => {
    const third = await ctx.api('door', env);
    await sleep(300);
    const live = (await readDoorCounts(ctx.server.client, one.keys)).length;
    await third.close();
    // Its copy expires five intervals after its last write.
    await sleep(800);
    assert.equal((await readDoorCounts(ctx.server.client, one.keys)).length, live - 1, 'a stopped API still counted');
  });
});
