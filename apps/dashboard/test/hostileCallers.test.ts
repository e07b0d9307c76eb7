import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ORDERS_QUEUE, listen, loadConfig, newOrderId, type Listening } from '@flashline/core';
import { SYSTEM_ADMIN_TOKEN, mapConcurrent, startSystem, type System } from '@flashline/test-utils';
import { VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

const defaults = loadConfig({});
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const LONG = 'x'.repeat(8000);
/** Redis may hold this much more after the second, longer flood than after the first: the limits bite. */
const BUDGET_BYTES = 64 * 1024;

/**
 * One address sends what a bot or a curious viewer would, with the production limits on (per IP and
 * per user, failed-login throttling, sale-panel stream caps): fresh Idempotency-Keys and user ids
 * for unknown and sold-out products, malformed bodies, viewer requests with 8 kB paths, failed
 * logins under fresh user names, and sale-panel streams it never reads. Redis memory may grow while
 * the limits start to bite; after that, a longer flood must not grow it past a fixed budget.
 */
describe('hostile callers from one address', { timeout: 240_000 }, () => {
  let system: System;
  let fixture: DashboardFixture;
  let board: Listening;
  let boardUrl: string;
  const sockets: Socket[] = [];

  before(async () => {
    system = await startSystem({
      workers: 1,
      env: {
        RATE_LIMIT_PER_IP: String(defaults.rateLimit.perIp),
        RATE_LIMIT_PER_USER: String(defaults.rateLimit.perUser),
        RATE_LIMIT_WINDOW_MS: String(defaults.rateLimit.windowMs),
      },
    });
    fixture = dashboardOn(system.redis, system.prefix, {
      env: {
        LOGIN_FAILURES_PER_IP: String(defaults.dashboardLogin.failuresPerIp),
        LOGIN_FAILURES_PER_USER: String(defaults.dashboardLogin.failuresPerUser),
        // Behind a proxy on loopback: the failed logins come from another address than the viewer's
        // (a viewer sharing the intruder's address would be throttled with it, see docs/dashboard.md).
        TRUST_PROXY: 'loopback',
      },
    });
    board = await listen(fixture.app, 0, '127.0.0.1', defaults.http);
    boardUrl = `http://127.0.0.1:${board.port}`;
    const put = await fetch(`${system.apiUrl}/products/gone`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ stock: 0 }),
    });
    assert.equal(put.status, 200);
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await board.close();
    await fixture.close();
    await system.stop();
  });

  /** One hostile request of the mix; answers its HTTP status (0: no answer). */
  function hostile(i: number): Promise<number> {
    const order = (body: unknown) =>
      fetch(`${system.apiUrl}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `k-${i}-${Math.random()}` },
        body: JSON.stringify(body),
      });
    const requests: (() => Promise<Response>)[] = [
      () => order({ productId: `nope${i}`, userId: `bot${i}`, quantity: 1 }),
      () => order({ productId: 'gone', userId: `bot${i}`, quantity: 1 }),
      () => order({ productId: 'gone', userId: `bot${i}`, quantity: -1 }),
      () => fetch(`${system.apiUrl}/orders/${newOrderId('gone')}`),
      () =>
        fetch(`${boardUrl}/admin/queues/api/queues/${ORDERS_QUEUE}/${LONG}${i}/retry`, {
          method: 'PUT',
          headers: { authorization: basic(VIEWER.user, VIEWER.password) },
        }),
      () =>
        fetch(`${boardUrl}/admin/queues/api/queues/${ORDERS_QUEUE}/retry/${LONG}${i}`, {
          method: 'PUT',
          headers: { authorization: basic(VIEWER.user, VIEWER.password) },
        }),
      () =>
        fetch(`${boardUrl}/admin/queues`, {
          headers: { authorization: basic(`intruder${i}`, 'guess-guess'), 'x-forwarded-for': '203.0.113.9' },
        }),
    ];
    return requests[i % requests.length]!().then(
      async (res) => {
        await res.arrayBuffer();
        return res.status;
      },
      () => 0,
    );
  }

  /** Sends the mix for `ms`, 32 at a time; answers the count of each status. */
  async function flood(ms: number, from: number): Promise<Record<string, number>> {
    const statuses: Record<string, number> = {};
    const deadline = Date.now() + ms;
    let next = from;
    await mapConcurrent(Array.from({ length: 32 }), 32, async () => {
      while (Date.now() < deadline) {
        const status = await hostile(next++);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    });
    return statuses;
  }

  /** Opens a sale-panel stream as the viewer and never reads it. */
  async function openUnreadStream(): Promise<void> {
    const socket = connect(board.port, '127.0.0.1');
    sockets.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /sale/events HTTP/1.1\r\nHost: dashboard\r\nAuthorization: ${basic(VIEWER.user, VIEWER.password)}\r\n\r\n`,
    );
    socket.pause();
  }

  /** used_memory once the limits' windows have passed (their keys expire), and the number of keys. */
  async function settledMemory(): Promise<{ bytes: number; keys: number }> {
    await sleep(defaults.rateLimit.windowMs + 1500);
    const info = await system.redis.client.info('memory');
    return { bytes: Number(/used_memory:(\d+)/.exec(info)?.[1]), keys: await system.redis.client.dbsize() };
  }

  it('keeps Redis memory within a fixed budget once the limits bite, and changes no sale', async () => {
    const start = await settledMemory();
    for (let i = 0; i < 2 * defaults.salePanelStreams.perUser; i++) await openUnreadStream();
    const first = await flood(4000, 0);
    const bitten = await settledMemory();
    const second = await flood(12_000, 1_000_000);
    const end = await settledMemory();
    const tried = [first, second].flatMap((s) => Object.values(s)).reduce((a, b) => a + b, 0);
    console.log(
      `# hostile mix, ${tried} requests: Redis ${start.bytes} B (${start.keys} keys) at the start, ` +
        `${bitten.bytes} B (${bitten.keys}) once the limits bit, ${end.bytes} B (${end.keys}) after 3 times as long again; ` +
        `answers ${JSON.stringify(first)} then ${JSON.stringify(second)}`,
    );
    assert.ok((second['429'] ?? 0) > 0, 'the limits never bit');
    assert.ok((second['403'] ?? 0) > 0, "the viewer's refused requests did not go on");
    assert.ok(
      end.bytes - bitten.bytes < BUDGET_BYTES,
      `Redis grew by ${end.bytes - bitten.bytes} B during the longer flood (budget ${BUDGET_BYTES})`,
    );
    assert.ok(end.keys - bitten.keys <= 10, `${end.keys - bitten.keys} keys more after the longer flood`);
    // Nothing of it is a sale: no order, no job, no key bound, no stock moved.
    const redis = system.redis.client;
    assert.deepEqual(await redis.keys(`${system.prefix}:*order:*`), []);
    assert.deepEqual(await redis.keys(`${system.prefix}:*idem*`), []);
    assert.equal(await fixture.queue.count(), 0);
    assert.equal(await redis.hget(fixture.keys.product('gone'), 'stock'), '0');
    assert.ok(fixture.sale.listenerCount <= defaults.salePanelStreams.perUser, 'more unread streams than the cap');
  });
});
