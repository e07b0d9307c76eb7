import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { samplesOf, sumOf, typeOf } from '@flashline/test-utils';
import {
  AppError,
  ProductLocks,
  createReadErrors,
  createRegistry,
  createWorkerMetrics,
  mergedMetrics,
  metricsHandler,
  ownMetrics,
  publishMetrics,
  readPublishedMetrics,
} from '../src/index.ts';
import { uniqueKeys, useClients } from './helpers.ts';

const text = async (registry: { metrics(): Promise<string> }) => registry.metrics();

describe('metrics', () => {
  const ctx = useClients();
  const { client } = ctx;

  it('observes the lock wait and the attempts that found the lock taken', async () => {
    const keys = uniqueKeys();
    const metrics = createWorkerMetrics(createRegistry());
    const settings = { ttlMs: 2000, maxWaitMs: 2000, retryMs: 5 };
    const holder = new ProductLocks(client(), keys, settings);
    const waiter = new ProductLocks(client(), keys, settings, metrics.lockObserver);

    await waiter.using('quiet', async () => {});
    let exposition = await text(metrics.registry);
    assert.equal(sumOf(exposition, 'flashline_lock_wait_seconds_count'), 1);
    assert.equal(sumOf(exposition, 'flashline_lock_retries_total'), 0, 'an uncontended acquisition counted retries');

    const held = await holder.acquire('hot');
    setTimeout(() => void holder.release('hot', held.token), 150);
    await waiter.using('hot', async () => {});
    exposition = await text(metrics.registry);
    assert.equal(sumOf(exposition, 'flashline_lock_wait_seconds_count'), 2);
    assert.ok(
      sumOf(exposition, 'flashline_lock_wait_seconds_sum') >= 0.14,
      'the wait behind the holder was not measured',
    );
    assert.equal(
      sumOf(exposition, 'flashline_lock_wait_seconds_bucket', { le: '0.1' }),
      1,
      'only the quiet acquisition is under 100 ms',
    );
    assert.ok(sumOf(exposition, 'flashline_lock_retries_total') >= 1, 'no retry counted while the lock was held');
    assert.equal(typeOf(exposition, 'flashline_lock_wait_seconds'), 'histogram');
  });

  it('counts an acquisition given up after LOCK_WAIT_MS as a timeout, not as a wait', async () => {
    const keys = uniqueKeys();
    const metrics = createWorkerMetrics(createRegistry());
    await client().set(keys.lock('stuck'), 'someone-else');
    const locks = new ProductLocks(client(), keys, { ttlMs: 2000, maxWaitMs: 60, retryMs: 5 }, metrics.lockObserver);
    await assert.rejects(
      locks.acquire('stuck'),
      (e: unknown) => e instanceof AppError && e.code === 'lock_unavailable',
    );
    const exposition = await text(metrics.registry);
    assert.equal(sumOf(exposition, 'flashline_lock_timeouts_total'), 1);
    assert.equal(sumOf(exposition, 'flashline_lock_wait_seconds_count'), 0);
    assert.ok(sumOf(exposition, 'flashline_lock_retries_total') >= 2);
  });

  it("merges the workers' published metrics, each under its worker label, never summed", async () => {
    const keys = uniqueKeys();
    const redis = client();
    const workers = ['host-a:1', 'host-b:2'].map((id) => ({
      id,
      metrics: createWorkerMetrics(createRegistry({ worker: id })),
    }));
    workers[0]!.metrics.observeDecision({ status: 'confirmed' }, Date.now() - 40);
    workers[0]!.metrics.observeDecision({ status: 'rejected', reason: 'sold_out' }, Date.now() - 40);
    workers[1]!.metrics.observeDecision({ status: 'confirmed' }, Date.now() - 40);
    const stops = workers.map(({ id, metrics }) =>
      publishMetrics(redis, keys, metrics.registry, id, (error) => assert.fail(String(error)), { intervalMs: 50 }),
    );

    const own = createRegistry();
    const render = mergedMetrics(own, () => readPublishedMetrics(redis, keys), createReadErrors(own));
    for (const deadline = Date.now() + 5000; (await readPublishedMetrics(redis, keys)).length < 2; await sleep(20)) {
      assert.ok(Date.now() < deadline, 'the workers never published');
    }
    let exposition = (await render()).text;
    assert.equal(
      sumOf(exposition, 'flashline_orders_decided_total', { worker: 'host-a:1', status: 'confirmed', reason: 'none' }),
      1,
    );
    assert.equal(
      sumOf(exposition, 'flashline_orders_decided_total', {
        worker: 'host-a:1',
        status: 'rejected',
        reason: 'sold_out',
      }),
      1,
    );
    assert.equal(sumOf(exposition, 'flashline_orders_decided_total', { worker: 'host-b:2', status: 'confirmed' }), 1);
    assert.equal(samplesOf(exposition, 'flashline_orders_decided_total').length, 3);
    assert.equal(sumOf(exposition, 'flashline_decision_latency_seconds_count', { worker: 'host-a:1' }), 2);
    assert.equal(sumOf(exposition, 'flashline_decision_latency_seconds_bucket', { worker: 'host-a:1', le: '+Inf' }), 2);
    assert.equal(
      sumOf(exposition, 'flashline_decision_latency_seconds_bucket', { worker: 'host-a:1', le: '0.025' }),
      0,
      'a 40 ms latency fell under 25 ms',
    );
    assert.equal(typeOf(exposition, 'flashline_orders_decided_total'), 'counter');
    // The merging process's own metrics are there too, without a worker label (and prom-client's 'omit' ones kept).
    assert.equal(
      samplesOf(exposition, 'process_start_time_seconds').filter((s) => s.labels.worker === undefined).length,
      1,
    );

    // A stopped worker disappears at once; one that stops publishing (killed) once its copy is old.
    stops[0]!();
    stops[1]!();
    await sleep(100);
    exposition = (await render()).text;
    assert.equal(samplesOf(exposition, 'flashline_orders_decided_total').length, 0);
    await redis.zadd(keys.metricsWorkers(), Date.now() - 6000, 'dead:9');
    await redis.set(
      keys.workerMetrics('dead:9'),
      JSON.stringify(await workers[0]!.metrics.registry.getMetricsAsJSON()),
    );
    assert.deepEqual(await readPublishedMetrics(redis, keys), []);
    assert.equal(await redis.zscore(keys.metricsWorkers(), 'dead:9'), null, 'a stale worker id was not dropped');
  });

  it('answers a scrape without the workers when Redis does not answer, and counts it', async () => {
    const own = createRegistry();
    const readErrors = createReadErrors(own);
    const render = mergedMetrics(own, () => new Promise(() => {}), readErrors, 50);
    const exposition = (await render()).text;
    assert.equal(sumOf(exposition, 'flashline_metrics_read_errors_total', { source: 'workers' }), 1);
  });

  it('serves the text format, behind METRICS_TOKEN when one is set, and never openly in production', async () => {
    const registry = createRegistry();
    const serve = (handler: ReturnType<typeof metricsHandler>) => createServer((req, res) => void handler(req, res));
    const open = serve(metricsHandler(ownMetrics(registry), { env: 'development', metricsToken: undefined }));
    const guarded = serve(
      metricsHandler(ownMetrics(registry), { env: 'development', metricsToken: 'metrics-token-0123456789' }),
    );
    // In production metrics are never open: without a token they answer 401 to everyone.
    const closed = serve(metricsHandler(ownMetrics(registry), { env: 'production', metricsToken: undefined }));
    const urls: string[] = [];
    for (const s of [open, guarded, closed]) {
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      urls.push(`http://127.0.0.1:${(s.address() as AddressInfo).port}/metrics`);
    }
    try {
      const plain = await fetch(urls[0]!);
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get('content-type'), registry.contentType);
      assert.match(await plain.text(), /^# HELP process_cpu_user_seconds_total/m);

      const refused = await fetch(urls[1]!);
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unauthorized');
      assert.equal(
        (await fetch(urls[1]!, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status,
        401,
      );
      const allowed = await fetch(urls[1]!, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      assert.equal(allowed.status, 200);
      await allowed.text();
      const inProduction = await fetch(urls[2]!, { headers: { authorization: 'Bearer anything-0123456789' } });
      assert.equal(inProduction.status, 401);
      assert.equal(inProduction.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    } finally {
      open.close();
      guarded.close();
      closed.close();
    }
  });
});
