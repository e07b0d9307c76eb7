import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useRedisServer } from '@flashline/test-utils';
import {
  bullmqCeiling,
  bullmqCeilingProcesses,
  httpCeiling,
  runSeedAlgorithm,
  startOrderServer,
  type SeedAlgorithm,
} from '../src/baselines/index.ts';
import { loadTest } from '../src/load/loadTest.ts';

// Tiny sizes: these tests check what each baseline must report, not how fast this machine is.
describe('baselines', () => {
  const ctx = useRedisServer();
  const common = (keyPrefix: string) => ({ redisUrl: ctx.server.url, keyPrefix });

  const safe: SeedAlgorithm[] = ['watch', 'setnxLock', 'luaDecrement'];
  for (const algorithm of safe) {
    it(`${algorithm} sells exactly min(stock, demand) to 50 clients, never more`, async () => {
      for (const [stock, demand] of [
        [100, 200],
        [150, 100],
      ] as const) {
        const result = await runSeedAlgorithm(algorithm, { ...common(`bt-${algorithm}`), stock, demand, clients: 50 });
        const expected = Math.min(stock, demand);
        assert.equal(result.sold, expected, `${stock}/${demand}`);
        assert.equal(result.rejected, demand - expected);
        assert.equal(result.oversold, 0);
        assert.equal(result.lostUpdates, 0);
        assert.equal(result.finalStock, stock - expected);
        assert.ok(result.decisionsPerSecond > 0 && result.elapsedMs > 0);
      }
    });
  }

  it('the contention counters count something under 50 clients', async () => {
    const watch = await runSeedAlgorithm('watch', { ...common('bt-cw'), stock: 100, demand: 200 });
    const lock = await runSeedAlgorithm('setnxLock', { ...common('bt-cl'), stock: 100, demand: 200 });
    assert.ok(watch.abortedExecs! > 0, 'fifty clients on one key and no WATCH ever aborted');
    assert.ok(lock.lockSpins! > 0, 'fifty clients on one lock and none ever waited');
  });

  it('naive loses updates and oversells, and its figures add up', async () => {
    const stock = 100;
    const demand = 200;
    const result = await runSeedAlgorithm('naive', { ...common('bt-naive'), stock, demand, clients: 50 });
    assert.equal(result.sold + result.rejected, demand);
    assert.ok(result.finalStock >= 0 && result.finalStock <= stock);
    // Every unit the clients believe sold either left the stock or was overwritten by a concurrent SET.
    assert.equal(result.sold, stock - result.finalStock + result.lostUpdates);
    assert.equal(result.oversold, Math.max(0, result.sold - stock));
    // All fifty GETs leave in the first tick and read the same stock: the race is certain, not luck.
    assert.ok(result.lostUpdates > 0, 'the naive baseline must show the race it exists to show');
    assert.ok(result.oversold > 0);
  });

  it('the BullMQ ceiling drains every job, in process and in worker processes', async () => {
    const inProcess = await bullmqCeiling({ ...common('bt-bq'), jobs: 300, workers: 2, concurrency: 16 });
    const processes = await bullmqCeilingProcesses({ ...common('bt-bqp'), jobs: 300, processes: 2, concurrency: 16 });
    for (const result of [inProcess, processes]) {
      assert.equal(result.completed, 300, result.mode);
      assert.equal(result.left, 0, result.mode);
      assert.ok(result.jobsPerSecond > 0 && result.elapsedMs > 0);
    }
    assert.equal(await ctx.server.client.keys('bt-bq*').then((keys) => keys.length), 0, 'the queues were left behind');
  });

  it('the HTTP ceiling answers every request 202, and (b) enqueues each one', async () => {
    const result = await httpCeiling({ ...common('bt-http'), requests: 200, concurrency: 16 });
    assert.deepEqual(result.validateOnly.statusCounts, { '202': 200 });
    assert.deepEqual(result.validateAndEnqueue.statusCounts, { '202': 200 });
    assert.equal(result.validateAndEnqueue.jobsEnqueued, 200);
    assert.ok(result.validateOnly.serverCpuMs > 0 && result.validateOnly.generatorCpuMs! > 0);
    assert.equal(await ctx.server.client.keys('bt-*').then((keys) => keys.length), 0, 'a baseline left keys behind');
  });

  it('the baseline server refuses what Flashline refuses, and loadTest counts each status', async () => {
    const server = await startOrderServer(async () => {});
    try {
      const bodies = [
        { productId: 'tv', userId: 'u', quantity: 1 },
        { productId: 'tv', userId: 'u', quantity: 11 },
        { productId: 'tv', userId: 'u', quantity: 1.5 },
        { productId: 't v', userId: 'u', quantity: 1 },
        { productId: 'tv', userId: 'u', quantity: 1, extra: true },
      ];
      const result = await loadTest({
        url: `${server.url}/orders`,
        concurrency: 4,
        total: bodies.length,
        body: (i) => bodies[i],
      });
      assert.deepEqual(result.statusCounts, { '202': 1, '400': 4 });
      const fetched = await loadTest({
        url: `${server.url}/orders`,
        concurrency: 2,
        total: 4,
        body: () => bodies[0],
        transport: 'fetch',
      });
      assert.deepEqual(fetched.statusCounts, { '202': 4 });
    } finally {
      await server.close();
    }
    const nobody = await loadTest({ url: 'http://127.0.0.1:1/orders', concurrency: 2, total: 3, body: () => ({}) });
    assert.deepEqual(nobody.statusCounts, { '0': 3 }, 'a refused connection is an unknown outcome, status 0');
  });
});
