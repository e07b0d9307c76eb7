import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import request from 'supertest';
import {
  announcePartitions,
  listen,
  loadConfig,
  setProduct,
  type Listening,
  type OrdersJobData,
} from '@flashline/core';
import { startRedis, type TestRedis, acceptOrThrow, testAcceptor, bodyOf } from '@flashline/test-utils';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';
import { basic, readEvents } from './saleEvents.ts';

describe('sale panel', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;
  let http: Listening;
  let base: string;

  before(async () => {
    server = await startRedis();
    fixture = dashboardOn(server, 'sale', { intervalMs: 100 });
    http = await listen(fixture.app, 0, '127.0.0.1', loadConfig({}).http);
    base = `http://127.0.0.1:${http.port}`;
    // 1,000 products: the panel must cut them down, not ship them all.
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        setProduct(fixture.redis, fixture.keys, `p-${String(i).padStart(4, '0')}`, { stock: 100 }),
      ),
    );
    const deps = testAcceptor({
      redis: fixture.redis,
      keys: fixture.keys,
      queue: fixture.queue as Queue<OrdersJobData>,
    });
    for (let i = 0; i < 5; i++) await acceptOrThrow(deps, { productId: 'p-0042', userId: `u${i}`, quantity: 2 });
  });
  after(async () => {
    fixture.sale.close();
    await http.close();
    await fixture.close();
    await server.stop();
  });

  it('serves the page to both roles, with a strict content security policy', async () => {
    for (const who of [VIEWER, ADMIN]) {
      const page = await request(fixture.app)
        .get('/sale')
        .auth(who.user, who.password)
        .expect(200)
        .expect('content-type', /html/);
      assert.match(page.text, /sale panel/);
      assert.match(page.headers['content-security-policy'] ?? '', /default-src 'self'/);
    }
    await request(fixture.app)
      .get('/sale/assets/sale.js')
      .auth(VIEWER.user, VIEWER.password)
      .expect(200)
      .expect('content-type', /javascript/);
  });

  it('links the panel from Bull Board', async () => {
    const page = await request(fixture.app).get('/admin/queues').auth(VIEWER.user, VIEWER.password).expect(200);
    assert.match(page.text, /"miscLinks":\[\{"text":"Sale panel","url":"\/sale"\}\]/);
  });

  it('streams totals, queue depth, workers and the top rows of 1,000 products', async () => {
    const [view] = await readEvents(`${base}/sale/events`, 1);
    assert.ok(view);
    assert.equal(view.totals.products, 1000);
    assert.equal(view.matched, 1000);
    assert.equal(view.rows.length, 50, 'the default page is the top 50, not every product');
    assert.equal(view.totals.stock, 100_000);
    assert.equal(view.totals.accepted, 5);
    assert.equal(view.totals.queued, 5);
    assert.equal(view.jobs.waiting, 5);
    assert.equal(view.workers, 0);
    assert.equal(view.rows[0]!.productId, 'p-0042', 'busiest first: the product with orders queued');
    assert.equal(view.rows[0]!.queued, 5);
    assert.ok(Math.abs(Date.now() - view.at) < 5000, 'each snapshot says when it was read');
  });

  it('names a partition with work and no live worker (and /metrics counts it), until a worker announces it', async () => {
    const [view] = await readEvents(`${base}/sale/events`, 1);
    assert.deepEqual(view?.unserved, [{ partition: 0, waiting: 5 }]);
    const page = await request(fixture.app).get('/sale/assets/sale.js').auth(VIEWER.user, VIEWER.password);
    assert.match(page.text, /No worker serves/, 'the page shows no warning line');
    const metrics = dashboardOn(server, 'sale', { intervalMs: 100, metrics: true });
    try {
      const scrape = async () =>
        (await request(metrics.app).get('/metrics').auth(VIEWER.user, VIEWER.password).expect(200)).text;
      assert.match(await scrape(), /^flashline_partitions_unserved 1$/m);
      const stop = announcePartitions(fixture.redis, fixture.keys, 'test:1', [0], () => {});
      try {
        await sleep(50);
        assert.match(await scrape(), /^flashline_partitions_unserved 0$/m);
        const views = await readEvents(`${base}/sale/events`, 3);
        assert.deepEqual(views.at(-1)?.unserved, []);
      } finally {
        stop();
      }
    } finally {
      await metrics.close();
    }
  });

  it('searches and sorts on the server', async () => {
    const [search] = await readEvents(`${base}/sale/events?q=P-09&sort=name&limit=5`, 1);
    assert.equal(search!.matched, 100);
    assert.deepEqual(
      search!.rows.map((row) => row.productId),
      ['p-0900', 'p-0901', 'p-0902', 'p-0903', 'p-0904'],
    );
    const [byQueued] = await readEvents(`${base}/sale/events?sort=queued&limit=1`, 1);
    assert.equal(byQueued!.rows[0]!.productId, 'p-0042');
    for (const bad of ['sort=random', 'limit=0', 'limit=201', 'q=%7Bx%7D']) {
      const reply = await request(fixture.app)
        .get(`/sale/events?${bad}`)
        .auth(VIEWER.user, VIEWER.password)
        .expect(400);
      assert.equal(bodyOf(reply).error.code, 'invalid_request', bad);
    }
  });

  it('shows who holds the hottest locks, the time left and the fencing token, never the lock secret', async () => {
    await fixture.redis.set(fixture.keys.lock('p-0042'), 'worker-host:4242:9f8e7d6c5b4a39281706f5e4', 'PX', 10_000);
    await fixture.redis.set(fixture.keys.fence('p-0042'), '17');
    const [view] = await readEvents(`${base}/sale/events`, 2).then((views) => views.slice(-1));
    const lock = view!.locks.find((l) => l.productId === 'p-0042');
    assert.ok(lock, 'the hottest product has no lock row');
    assert.equal(lock.holder, 'worker-host:4242');
    assert.equal(lock.fence, 17);
    assert.ok(lock.ttlMs > 5000 && lock.ttlMs <= 10_000, `ttl ${lock.ttlMs}`);
    assert.ok(view!.locks.length <= 5);
    assert.doesNotMatch(JSON.stringify(view), /9f8e7d6c/);
  });

  it('runs one read loop for every client, and none without clients', async () => {
    await sleep(300);
    assert.equal(fixture.sale.listenerCount, 0);
    const idle = fixture.sale.reads;
    await sleep(300);
    assert.equal(fixture.sale.reads, idle, 'the loop reads Redis with nobody watching');

    // Four clients watching for one second at a 100 ms interval: one shared loop reads about 10
    // times; a loop per client (or a second loop started beside the first) reads 20 to 40 times.
    const started = fixture.sale.reads;
    const opened = Date.now();
    const clients = await Promise.all([1, 2, 3, 4].map(() => readEvents(`${base}/sale/events`, 1)));
    const watching = [1, 2, 3, 4].map(() => readEvents(`${base}/sale/events`, 10_000, 1000));
    const views = await Promise.all(watching);
    const seconds = (Date.now() - opened) / 1000;
    const reads = fixture.sale.reads - started;
    assert.ok(
      clients.every((v) => v.length === 1) && views.every((v) => v.length >= 5),
      'a client got too few snapshots',
    );
    assert.ok(reads <= 14 * seconds, `${reads} reads in ${seconds.toFixed(1)} s for 4 clients: not one shared loop`);
  });

  it('ends every event stream when the feed closes (so a graceful stop does not hang)', async () => {
    const res = await fetch(`${base}/sale/events`, { headers: { authorization: basic(VIEWER) } });
    const reader = res.body!.getReader();
    await reader.read();
    fixture.sale.close();
    const timeout = sleep(2000).then(() => 'timeout');
    let result: unknown;
    while (
      (result = await Promise.race([reader.read(), timeout])) !== 'timeout' &&
      !(result as { done: boolean }).done
    );
    assert.notEqual(result, 'timeout', 'the stream stayed open after close');
  });
});
