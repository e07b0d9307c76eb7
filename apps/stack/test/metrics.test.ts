import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SYSTEM_ADMIN_TOKEN,
  freePort,
  mapConcurrent,
  requestJson,
  samplesOf,
  startApp,
  startSystem,
  sumOf,
  typeOf,
  type AppProcess,
  type System,
} from '@flashline/test-utils';
import { createKeys, productOfOrder } from '@flashline/core';

const METRICS_TOKEN = 'stack-metrics-token-0123456789';

/** The real processes: an API, two workers and the dashboard, each with its own /metrics or publication. */
describe('metrics end to end', () => {
  let system: System;
  let dashboard: AppProcess;
  let dashboardUrl: string;

  before(async () => {
    system = await startSystem({ workers: 2, appendonly: false });
    const port = await freePort();
    dashboardUrl = `http://127.0.0.1:${port}`;
    dashboard = startApp('apps/dashboard/src/main.ts', {
      REDIS_URL: system.redis.url,
      KEY_PREFIX: system.prefix,
      DASHBOARD_PORT: String(port),
      METRICS_TOKEN,
    });
    await dashboard.waitForLog(/dashboard listening/, 30_000);
  });
  after(async () => {
    await dashboard?.stop();
    await system?.stop();
  });

  const scrape = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}/metrics`, { headers });
    assert.equal(res.status, 200, `GET ${url}/metrics answered ${res.status}`);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return res.text();
  };
  const scrapeDashboard = () => scrape(dashboardUrl, { authorization: `Bearer ${METRICS_TOKEN}` });

  it("serves the API's requests and orders, and the workers' decisions, lock waits and the queue on the dashboard", async () => {
    const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };
    assert.equal(
      (await requestJson(`${system.apiUrl}/products/tv`, { method: 'PUT', headers: admin, body: { stock: 20 } }))
        .status,
      200,
    );
    // 30 buyers for 20 units: the late ones may be refused sold_out at once, the others are decided by the workers.
    const replies = await mapConcurrent(
      Array.from({ length: 30 }, (_, i) => `buyer-${i}`),
      6,
      (userId) =>
        requestJson(`${system.apiUrl}/orders`, { method: 'POST', body: { productId: 'tv', userId, quantity: 1 } }),
    );
    const accepted = replies.filter((r) => r.status === 202).map((r) => r.body.orderId);
    const soldOut = replies.filter((r) => r.status === 409).length;
    assert.equal(accepted.length + soldOut, 30, `unexpected answers: ${replies.map((r) => r.status).join(',')}`);
    let polls = 0;
    const outcomes: string[] = [];
    for (const orderId of accepted) {
      for (const deadline = Date.now() + 15_000; ; await sleep(25)) {
        const order = await requestJson(`${system.apiUrl}/orders/${orderId}`);
        polls += order.status === 200 ? 1 : 0;
        if (order.body?.status !== 'queued') {
          outcomes.push(order.body.reason ?? order.body.status);
          break;
        }
        assert.ok(Date.now() < deadline, `order ${orderId} was never decided`);
      }
    }
    assert.equal(outcomes.filter((o) => o === 'confirmed').length, 20);
    assert.equal(outcomes.filter((o) => o === 'sold_out').length, accepted.length - 20);

    // The API: its own process's counters, labelled with route patterns.
    const api = await scrape(system.apiUrl);
    assert.equal(sumOf(api, 'flashline_orders_accepted_total'), accepted.length);
    assert.equal(sumOf(api, 'flashline_orders_refused_total', { code: 'sold_out' }), soldOut);
    assert.equal(
      sumOf(api, 'flashline_http_requests_total', { route: '/orders', method: 'POST', status: '202' }),
      accepted.length,
    );
    assert.equal(
      sumOf(api, 'flashline_http_requests_total', { route: '/orders/:orderId', method: 'GET', status: '200' }),
      polls,
    );
    assert.equal(
      sumOf(api, 'flashline_http_requests_total', { route: '/products/:productId', method: 'PUT', status: '200' }),
      1,
    );
    assert.ok(!api.includes(accepted[0]!), 'an order id became a label value');
    assert.equal(
      samplesOf(api, 'flashline_orders_decided_total').length,
      0,
      'the API serves worker metrics: they would be counted twice',
    );

    // The dashboard: the workers' metrics as they published them (within a second), each under its worker label.
    let board: string;
    for (const deadline = Date.now() + 10_000; ; await sleep(200)) {
      board = await scrapeDashboard();
      if (sumOf(board, 'flashline_orders_decided_total') === accepted.length) break;
      assert.ok(
        Date.now() < deadline,
        `the dashboard shows ${sumOf(board, 'flashline_orders_decided_total')} decisions, not ${accepted.length}`,
      );
    }
    assert.equal(sumOf(board, 'flashline_orders_decided_total', { status: 'confirmed', reason: 'none' }), 20);
    assert.equal(
      sumOf(board, 'flashline_orders_decided_total', { status: 'rejected', reason: 'sold_out' }),
      accepted.length - 20,
    );
    assert.equal(sumOf(board, 'flashline_decision_latency_seconds_count'), accepted.length);
    assert.equal(typeOf(board, 'flashline_decision_latency_seconds'), 'histogram');
    assert.ok(sumOf(board, 'flashline_lock_wait_seconds_count') > 0, 'no lock acquisition observed');
    assert.equal(typeOf(board, 'flashline_lock_retries_total'), 'counter');
    const workerIds = new Set(samplesOf(board, 'process_cpu_user_seconds_total').map((s) => s.labels.worker));
    assert.equal(workerIds.size, 3, `expected two workers and the dashboard itself, got ${[...workerIds].join(', ')}`);
    assert.ok(
      samplesOf(board, 'flashline_orders_decided_total').every((s) => s.labels.worker),
      'a decision series without its worker label',
    );
    // One job per batch of orders the API accepted together: the jobs the orders name (a lone order's is its own id).
    const keys = createKeys(system.prefix);
    const jobIds = new Set(
      await Promise.all(
        accepted.map(
          async (orderId) =>
            (await system.redis.client.hget(keys.order(productOfOrder(orderId)!, orderId), 'job')) ?? orderId,
        ),
      ),
    );
    assert.equal(sumOf(board, 'flashline_queue_jobs', { state: 'completed' }), jobIds.size);
    assert.equal(sumOf(board, 'flashline_queue_jobs', { state: 'wait' }), 0);
    assert.equal(samplesOf(board, 'flashline_queue_jobs').length, 6);
  });

  it("guards the dashboard's /metrics with METRICS_TOKEN only, not with the operators' password", async () => {
    const none = await fetch(`${dashboardUrl}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const basic = await fetch(`${dashboardUrl}/metrics`, {
      headers: { authorization: `Basic ${Buffer.from('admin:whatever').toString('base64')}` },
    });
    assert.equal(basic.status, 401);
    // The rest of the dashboard is still behind basic auth.
    assert.equal(
      (await fetch(`${dashboardUrl}/admin/queues`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status,
      401,
    );
  });

  it("drops a stopped worker's series from the dashboard", async () => {
    const workerOf = (text: string) =>
      new Set(samplesOf(text, 'flashline_lock_retries_total').map((s) => s.labels.worker));
    assert.equal(workerOf(await scrapeDashboard()).size, 2);
    assert.equal(await system.stopWorker(1), 0);
    assert.equal(workerOf(await scrapeDashboard()).size, 1);
  });
});
