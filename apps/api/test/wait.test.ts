import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, Worker } from 'bullmq';
import {
  connectRedis,
  createOrdersQueue,
  listen,
  onePartition,
  partitionQueue,
  publishDecided,
  reconcileOnce,
  type Listening,
} from '@flashline/core';
import {
  requestJson,
  snapshotCluster,
  snapshotDiff,
  startFaultProxy,
  startRedis,
  type FaultProxy,
  type JsonReply,
  type RedisCluster,
  type TestRedis,
} from '@flashline/test-utils';
import { ADMIN_TOKEN, apiOn, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** An API on its own redis-server, listening on a port: what a buyer's page talks to. */
interface Served {
  server: TestRedis;
  proxy?: FaultProxy;
  api: ApiUnderTest;
  http: Listening;
  url: string;
  close(): Promise<void>;
}

async function serve(env: Record<string, string> = {}, options: { restartable?: boolean } = {}): Promise<Served> {
  const server = await startRedis({ appendonly: options.restartable ?? false });
  // A restartable Redis is reached through a proxy, so that the test decides when the API gets back to it.
  const proxy = options.restartable ? await startFaultProxy({ host: '127.0.0.1', port: server.port }) : undefined;
  const api = await apiOn(proxy ? { ...server, url: proxy.url } : server, 'wait', env);
  const http = await listen(api.app, 0, '127.0.0.1', api.config.http);
  await until(() => subscribers(server).then((n) => n === 1), 'the API subscribed');
  return {
    server,
    ...(proxy ? { proxy } : {}),
    api,
    http,
    url: `http://127.0.0.1:${http.port}`,
    async close() {
      await api.close();
      await http.close();
      await proxy?.close();
      await server.stop();
    },
  };
}

/** The clients of `server` in pub/sub mode: one per API process, however many requests wait. */
async function subscribers(server: TestRedis): Promise<number> {
  const list = String(await server.client.call('CLIENT', 'LIST'));
  return list.split('\n').filter((line) => /\bsub=[1-9]/.test(line)).length;
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

/** A queued order (no worker runs here): its id. */
async function queuedOrder(s: Served, userId = 'alice'): Promise<string> {
  const order = await requestJson(`${s.url}/orders`, {
    method: 'POST',
    body: { productId: 'tv', userId, quantity: 1 },
  });
  assert.equal(order.status, 202, JSON.stringify(order.body));
  return order.body.orderId;
}

/** What a worker does once it has committed: the decision in the order's record, then the message. */
async function decide(s: Served, orderId: string, publish = true): Promise<number> {
  const decidedAt = Date.now();
  await s.server.client.hset(s.api.keys.order('tv', orderId), { status: 'confirmed', decidedAt });
  if (publish) await publishDecided(s.server.client, s.api.keys, ['tv.other', orderId]);
  return decidedAt;
}

/** GET the order with `?wait=`: the answer and how long it took. */
async function waitFor(
  s: Served,
  orderId: string,
  wait: string,
  headers: Record<string, string> = {},
): Promise<JsonReply & { tookMs: number; at: number }> {
  const started = Date.now();
  const reply = await requestJson(`${s.url}/orders/${orderId}?wait=${wait}`, { headers, timeoutMs: 40_000 });
  return { ...reply, tookMs: Date.now() - started, at: Date.now() };
}

/** Calls per command since the server started (INFO commandstats), the test's own INFO and CLIENT left out. */
async function commandCalls(server: TestRedis): Promise<Record<string, number>> {
  const info = await server.client.info('commandstats');
  const calls: Record<string, number> = {};
  for (const [, name, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    if (name !== 'info' && name !== 'client|list') calls[name!] = Number(n);
  return calls;
}

const total = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);

describe('GET /orders/:id?wait=: waiting for the decision', () => {
  let s: Served;

  before(async () => {
    s = await serve({ ORDER_WAIT_MAX: '200' });
    assert.equal(
      (await requestJson(`${s.url}/products/tv`, { method: 'PUT', body: { stock: 100 }, headers: admin })).status,
      200,
    );
  });
  after(() => s.close());

  it('answers within a small bound of the decision, with the decided order', async () => {
    const orderId = await queuedOrder(s);
    const reply = waitFor(s, orderId, '10');
    await until(() => s.api.waiters.size === 1, 'the request waits');
    await sleep(300);
    const decidedAt = await decide(s, orderId);
    const answer = await reply;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'confirmed');
    assert.equal(answer.body.decidedAt, new Date(decidedAt).toISOString());
    const lagMs = answer.at - decidedAt;
    assert.ok(lagMs < 250, `answered ${lagMs} ms after the decision`);
    assert.equal(s.api.waiters.size, 0);
  });

  it('answers an order the reconciler ends processing_failed (its job failed) within a small bound', async () => {
    const orderId = await queuedOrder(s, 'reconciled');
    // A worker that dies on the job without ending the order: the reconciler is the one to end it.
    const { name, prefix } = partitionQueue(s.api.config, 0);
    const blocking = s.server.client.duplicate();
    const crashing = new Worker(name, () => Promise.reject(new UnrecoverableError('boom')), {
      connection: blocking,
      prefix,
    });
    // The reconciler's side: a worker's connection (with Flashline's scripts).
    const worker = connectRedis(s.api.config, 'worker');
    const queue = createOrdersQueue(s.api.config, worker);
    try {
      const jobId = (await s.server.client.hget(s.api.keys.order('tv', orderId), 'job')) ?? orderId;
      await until(async () => (await queue.getJobState(jobId)) === 'failed', 'the job failed');
      await crashing.close();
      const reply = waitFor(s, orderId, '10');
      await until(() => s.api.waiters.size === 1, 'the request waits');
      const report = await reconcileOnce({
        redis: worker,
        keys: s.api.keys,
        queues: onePartition(queue),
        afterMs: 1,
        orderRetentionMs: 60_000,
      });
      const failedAt = Date.now();
      assert.equal(report.failed, 1);
      const answer = await reply;
      assert.deepEqual([answer.body.status, answer.body.reason], ['rejected', 'processing_failed']);
      assert.ok(answer.at - failedAt < 250, `answered ${answer.at - failedAt} ms after the reconciler ended it`);
    } finally {
      await crashing.close();
      await queue.close();
      worker.disconnect();
      blocking.disconnect();
    }
  });

  it('answers an order already decided at once, and without wait as before', async () => {
    const orderId = await queuedOrder(s);
    await decide(s, orderId, false);
    const answer = await waitFor(s, orderId, '10');
    assert.equal(answer.body.status, 'confirmed');
    assert.ok(answer.tookMs < 250, `took ${answer.tookMs} ms`);
    const plain = await requestJson(`${s.url}/orders/${orderId}`);
    assert.deepEqual(plain.body, answer.body);
  });

  it('answers an undecided order at the end of its wait, queued', async () => {
    const orderId = await queuedOrder(s);
    const answer = await waitFor(s, orderId, '1');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'queued');
    assert.equal(answer.body.userId, undefined, 'no buyer id without the admin token, after a wait too');
    assert.ok(answer.tookMs >= 1000 && answer.tookMs < 1300, `answered after ${answer.tookMs} ms`);
  });

  it('keeps the access rules after the wait: the admin sees the buyer, an unknown order is 404 at once', async () => {
    const orderId = await queuedOrder(s, 'bob');
    const seen = await waitFor(s, orderId, '1', admin);
    assert.equal(seen.body.userId, 'bob');
    const missing = await waitFor(s, 'tv.AAAAAAAAAAAAAAAA', '5');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
    assert.ok(missing.tookMs < 250, `took ${missing.tookMs} ms`);
  });

  it('refuses a bad wait with 400 invalid_request, and nothing in Redis changes', async () => {
    const orderId = await queuedOrder(s);
    const node = { masters: () => Promise.resolve([{ host: '127.0.0.1', port: s.server.port }]) };
    const before = await snapshotCluster(node as unknown as RedisCluster);
    for (const wait of ['0', '31', '1.5', '-1', '05', '+5', '1e1', '', 'abc', '10&wait=10', '%201']) {
      const answer = await requestJson(`${s.url}/orders/${orderId}?wait=${wait}`);
      assert.equal(answer.status, 400, `wait=${wait}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error.code, 'invalid_request', `wait=${wait}`);
      assert.match(answer.body.error.message, /^wait: /, `wait=${wait}`);
    }
    const after = await snapshotCluster(node as unknown as RedisCluster);
    assert.deepEqual(after, before, snapshotDiff(before, after));
    assert.equal(s.api.waiters.size, 0);
  });

  it('frees the waiter of a client that goes away at once, and reads nothing for it', async () => {
    const orderId = await queuedOrder(s);
    const gone = new AbortController();
    const request = fetch(`${s.url}/orders/${orderId}?wait=2`, { signal: gone.signal }).catch(() => undefined);
    await until(() => s.api.waiters.size === 1, 'the request waits');
    const reads = (await commandCalls(s.server)).hgetall ?? 0;
    gone.abort();
    await request;
    await until(() => s.api.waiters.size === 0, 'the waiter is freed', 200);
    await sleep(2200);
    assert.equal((await commandCalls(s.server)).hgetall ?? 0, reads, 'no read at the deadline of a request gone');
  });
});

describe('the cost of waiting', () => {
  let s: Served;
  before(async () => {
    // One test address sends every wait here: its own cap (ORDER_WAIT_MAX_PER_IP) is not what is measured.
    s = await serve({ ORDER_WAIT_MAX: '200', ORDER_WAIT_MAX_PER_IP: '200' });
    await requestJson(`${s.url}/products/tv`, { method: 'PUT', body: { stock: 1000 }, headers: admin });
  });
  after(() => s.close());

  it('sends Redis nothing while 100 requests wait, on one subscription', async () => {
    const orders = await Promise.all(Array.from({ length: 100 }, (_, i) => queuedOrder(s, `buyer${i}`)));
    const start = await commandCalls(s.server);
    const answers = Promise.all(orders.map((orderId) => waitFor(s, orderId, '4')));
    await until(() => s.api.waiters.size === 100, '100 requests wait');
    const registered = await commandCalls(s.server);
    assert.equal(await subscribers(s.server), 1, 'one subscription for the process');
    await sleep(2500);
    const later = await commandCalls(s.server);
    assert.deepEqual(later, registered, 'no command while the requests wait');
    const replies = await answers;
    assert.ok(replies.every((reply) => reply.status === 200 && reply.body.status === 'queued'));
    const end = await commandCalls(s.server);
    // One read when each request came, one at its deadline: nothing that grows with the time waited.
    assert.equal(total(end) - total(start), 200, JSON.stringify({ start, end }));
  });

  it(`holds at most ORDER_WAIT_MAX waiters; past it a wait is answered at once, as without wait`, async () => {
    const capped = await serve({ ORDER_WAIT_MAX: '3' });
    try {
      await requestJson(`${capped.url}/products/tv`, { method: 'PUT', body: { stock: 10 }, headers: admin });
      const orders = await Promise.all(Array.from({ length: 4 }, (_, i) => queuedOrder(capped, `capped${i}`)));
      const waiting = orders.slice(0, 3).map((orderId) => waitFor(capped, orderId, '3'));
      await until(() => capped.api.waiters.size === 3, 'three requests wait');
      const fourth = await waitFor(capped, orders[3]!, '3');
      assert.equal(fourth.status, 200);
      assert.equal(fourth.body.status, 'queued');
      assert.ok(fourth.tookMs < 250, `the fourth took ${fourth.tookMs} ms`);
      assert.equal(capped.api.waiters.size, 3);
      await Promise.all(waiting);
      assert.equal(capped.api.waiters.size, 0);
    } finally {
      await capped.close();
    }
  });
});

describe('waits per order and per address', () => {
  it('caps waits per order (ORDER_WAIT_MAX_PER_ORDER) and per address (ORDER_WAIT_MAX_PER_IP); past either, answered at once', async () => {
    // Behind a proxy on loopback, so each request names its address in X-Forwarded-For.
    const capped = await serve({ ORDER_WAIT_MAX_PER_ORDER: '2', ORDER_WAIT_MAX_PER_IP: '3', TRUST_PROXY: 'loopback' });
    const from = (address: string) => ({ 'x-forwarded-for': address });
    try {
      await requestJson(`${capped.url}/products/tv`, { method: 'PUT', body: { stock: 10 }, headers: admin });
      const [one, two, three] = [
        await queuedOrder(capped, 'a'),
        await queuedOrder(capped, 'b'),
        await queuedOrder(capped, 'c'),
      ];
      const waiting = [waitFor(capped, one, '3', from('10.0.0.1')), waitFor(capped, one, '3', from('10.0.0.1'))];
      await until(() => capped.api.waiters.size === 2, 'two requests wait on one order');
      // A third wait on the same order, even from another address: at once.
      const sameOrder = await waitFor(capped, one, '3', from('10.0.0.2'));
      assert.equal(sameOrder.status, 200);
      assert.equal(sameOrder.body.status, 'queued');
      assert.ok(sameOrder.tookMs < 250, `a third wait on one order took ${sameOrder.tookMs} ms`);
      waiting.push(waitFor(capped, two, '3', from('10.0.0.1')));
      await until(() => capped.api.waiters.size === 3, 'the address holds three waits');
      // A fourth wait from that address, on another order: at once; another address still waits.
      const sameAddress = await waitFor(capped, three, '3', from('10.0.0.1'));
      assert.ok(sameAddress.tookMs < 250, `a fourth wait from one address took ${sameAddress.tookMs} ms`);
      waiting.push(waitFor(capped, three, '1', from('10.0.0.2')));
      await until(() => capped.api.waiters.size === 4, 'another address waits');
      await Promise.all(waiting);
      assert.equal(capped.api.waiters.size, 0);
    } finally {
      await capped.close();
    }
  });
});

describe('a Redis restart while requests wait', () => {
  let s: Served;
  before(async () => {
    s = await serve({}, { restartable: true });
    await requestJson(`${s.url}/products/tv`, { method: 'PUT', body: { stock: 10 }, headers: admin });
  });
  after(() => s.close());

  it('answers a decision whose message was lost while the subscription was down, once it is back', async () => {
    const orderId = await queuedOrder(s);
    const reply = waitFor(s, orderId, '20');
    await until(() => s.api.waiters.size === 1, 'the request waits');
    const proxy = s.proxy!;
    proxy.refuse = true;
    await s.server.kill();
    proxy.cutAll();
    await s.server.start();
    // Decided, and its message published, while the API cannot reach Redis: nobody hears of it.
    assert.equal(await subscribers(s.server), 0);
    await decide(s, orderId);
    const backAt = Date.now();
    proxy.refuse = false;
    const answer = await reply;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'confirmed');
    assert.ok(answer.at - backAt < 3000, `answered ${answer.at - backAt} ms after Redis was reachable again`);
  });
});
