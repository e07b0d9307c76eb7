import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { Worker, type Queue } from 'bullmq';
import request from 'supertest';
import {
  connectRedis,
  loadConfig,
  listen,
  partitionOfGroup,
  getOrder,
  getProduct,
  newOrderId,
  setProduct,
  waitUntilReady,
  type Listening,
  type OrdersJobData,
  type OrdersQueues,
} from '@flashline/core';
import {
  startApp,
  acceptOrThrow,
  snapshotCluster,
  snapshotDiff,
  sumOf,
  testAcceptor,
  useRedisCluster,
  type AppProcess,
  type ClusterSnapshot,
} from '@flashline/test-utils';
import type { AuditEntry } from '../src/audit/auditLog.ts';
import type { JobCounts } from '../src/sale/readSale.ts';
import { ADMIN, VIEWER, dashboardOnCluster, type DashboardFixture } from './fixture.ts';
import { readEvents } from './saleEvents.ts';

const PARTITIONS = 4;
const PREFIX = 'dash';
const PRODUCTS = Array.from({ length: 12 }, (_, i) => `item-${i}`);

interface BoardQueues {
  queues: {
    name: string;
    readOnlyMode: boolean;
    counts: Record<string, number>;
    jobs: { id: string; data: Record<string, unknown> }[];
  }[];
}

/** Each partition's jobs: two that fail for good (one retried alone, one by "retry all"), one waiting, one delayed. */
const jobsOf = (p: number) => ({
  failed: `p${p}.FAILEDAAAAAAAAAAA`,
  failedToo: `p${p}.FAILEDBBBBBBBBBBB`,
  waiting: `p${p}.WAITINGAAAAAAAAAA`,
  delayed: `p${p}.DELAYEDAAAAAAAAAA`,
});
const order = (orderId: string) => ({ orderId, productId: orderId.split('.')[0]!, userId: 'alice', quantity: 1 });
const boardApi = (queue: string, path: string) => `/admin/queues/api/queues/${queue}${path}`;

/**
 * The dashboard on a real Redis Cluster (3 masters, 3 replicas) with QUEUE_PARTITIONS=4, wired as
 * main.ts wires it: Bull Board lists every partition, the admin's actions and the viewer's refusals
 * reach the partition they name and are audited, and the sale panel adds the partitions up.
 */
describe('the dashboard on a real Redis Cluster, 4 partitions', () => {
  let fixture: DashboardFixture | undefined;
  let http: Listening | undefined;
  /** What the end-to-end describe below opened: closed before the nodes stop. */
  const closing: (() => Promise<unknown>)[] = [];
  const ctx = useRedisCluster({
    beforeStop: async () => {
      for (const close of closing) await close().catch(() => {});
      await http?.close();
      await fixture?.close();
    },
  });
  const dash = () => fixture!;
  const partition = (p: number): Queue => dash().queues[p]!;
  let base: string;
  /** Jobs the accept path put in each partition (one per accepted order, by its product's group). */
  const accepted = new Array<number>(PARTITIONS).fill(0);

  /** Fails the partition's two jobs for good (attempts 1) with a throw-away worker on that partition. */
  async function failTwoJobs(p: number): Promise<void> {
    const queue = partition(p);
    const { failed, failedToo } = jobsOf(p);
    for (const id of [failed, failedToo]) await queue.add('order', order(id), { jobId: id, attempts: 1 });
    const config = loadConfig({ REDIS_CLUSTER_NODES: ctx.cluster.seedNodes, KEY_PREFIX: PREFIX });
    const connection = connectRedis(config, 'worker');
    const worker = new Worker(queue.name, () => Promise.reject(new Error('simulated infrastructure failure')), {
      connection,
      prefix: queue.opts.prefix!,
    });
    let failures = 0;
    await new Promise<void>((resolve) => worker.on('failed', () => ++failures === 2 && resolve()));
    await worker.close();
    connection.disconnect();
  }

  async function stateOf(p: number, jobId: string): Promise<string | undefined> {
    const job = await partition(p).getJob(jobId);
    return job ? job.getState() : undefined;
  }

  /** The board's queue list as a role sees it. */
  async function boardQueues(who: typeof ADMIN): Promise<BoardQueues['queues']> {
    const reply = await request(dash().app)
      .get('/admin/queues/api/queues?activeQueue=orders-3&status=failed')
      .auth(who.user, who.password)
      .expect(200);
    return (reply.body as BoardQueues).queues;
  }

  /** Each state summed over the partitions, read from BullMQ directly. */
  async function summedCounts(): Promise<Record<string, number>> {
    const states = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;
    const counts = await Promise.all(dash().queues.map((queue) => queue.getJobCounts(...states)));
    return Object.fromEntries(states.map((state) => [state, counts.reduce((sum, c) => sum + (c[state] ?? 0), 0)]));
  }

  /** Audit entries are written when the response finishes: wait for them to land. */
  async function auditUntil(count: number, keep: (entry: AuditEntry) => boolean): Promise<AuditEntry[]> {
    let entries: AuditEntry[] = [];
    for (let i = 0; i < 100 && entries.length < count; i++) {
      entries = (await dash().audit.newest(1000)).filter(keep);
      if (entries.length < count) await sleep(20);
    }
    return entries;
  }

  before(async () => {
    fixture = dashboardOnCluster(ctx.cluster.seedNodes, PREFIX, {
      env: { QUEUE_PARTITIONS: String(PARTITIONS) },
      intervalMs: 100,
      metrics: true,
    });
    await waitUntilReady(dash().redis, 10_000);
    assert.ok(dash().redis.isCluster);
    assert.deepEqual(
      dash().queues.map((queue) => queue.name),
      ['orders', 'orders-1', 'orders-2', 'orders-3'],
    );
    http = await listen(dash().app, 0, '127.0.0.1', loadConfig({}).http);
    base = `http://127.0.0.1:${http.port}`;

    for (let p = 0; p < PARTITIONS; p++) {
      await failTwoJobs(p);
      const { waiting, delayed } = jobsOf(p);
      await partition(p).add('order', order(waiting), { jobId: waiting });
      await partition(p).add('order', order(delayed), { jobId: delayed, delay: 3_600_000 });
    }
    // Orders through the accept path: each product's go to its group's partition.
    const queues: OrdersQueues = {
      all: dash().queues as Queue<OrdersJobData>[],
      ofGroup: (group) => partition(partitionOfGroup(group, PARTITIONS)) as Queue<OrdersJobData>,
      close: async () => {},
    };
    const acceptor = testAcceptor({ redis: dash().redis, keys: dash().keys, queues });
    for (const productId of PRODUCTS) {
      await setProduct(dash().redis, dash().keys, productId, { stock: 10 });
      await acceptOrThrow(acceptor, { productId, userId: 'bob', quantity: 2 });
      accepted[partitionOfGroup(dash().keys.group(productId), PARTITIONS)]! += 1;
    }
    assert.ok(accepted.filter((n) => n > 0).length >= 3, `the orders went to few partitions: ${accepted.join(',')}`);
  });

  it('lists every partition on Bull Board, for the viewer (read-only) and the admin, each with its own counts', async () => {
    for (const [who, readOnly] of [
      [VIEWER, true],
      [ADMIN, false],
    ] as const) {
      const queues = await boardQueues(who);
      assert.deepEqual(queues.map((queue) => queue.name).sort(), ['orders', 'orders-1', 'orders-2', 'orders-3']);
      for (const queue of queues) {
        const p = queue.name === 'orders' ? 0 : Number(queue.name.split('-')[1]);
        assert.equal(queue.readOnlyMode, readOnly, queue.name);
        assert.deepEqual(
          [queue.counts.failed, queue.counts.waiting, queue.counts.delayed],
          [2, 1 + accepted[p]!, 1],
          `${queue.name} as ${who.user}`,
        );
      }
      // The active queue's failed jobs are that partition's, the viewer's with the buyer redacted.
      const active = queues.find((queue) => queue.name === 'orders-3')!;
      assert.deepEqual(active.jobs.map((job) => job.id).sort(), [jobsOf(3).failed, jobsOf(3).failedToo]);
      for (const job of active.jobs)
        assert.ok(readOnly ? /^user-[0-9a-f]{10}$/.test(String(job.data.userId)) : job.data.userId === 'alice');
    }
  });

  it("sums every partition in the sale panel's snapshot and in /metrics", async () => {
    const summed = await summedCounts();
    const expected = {
      waiting: PARTITIONS + PRODUCTS.length,
      delayed: PARTITIONS,
      failed: 2 * PARTITIONS,
      active: 0,
      prioritized: 0,
      completed: 0,
    };
    assert.deepEqual(summed, expected);
    // Two snapshots in: the first may have been read before the test's last jobs landed.
    const view = (await readEvents(`${base}/sale/events`, 2)).at(-1)!;
    const jobs: Partial<JobCounts> = view.jobs;
    assert.deepEqual({ ...jobs }, expected, 'the panel does not add up the partitions');
    assert.equal(view.totals.products, PRODUCTS.length);
    assert.equal(view.totals.queued, PRODUCTS.length);
    assert.equal(view.totals.accepted, PRODUCTS.length);
    assert.equal(view.totals.stock, 10 * PRODUCTS.length);
    assert.equal(view.workers, 0);

    const metrics = (await request(dash().app).get('/metrics').expect(200)).text;
    assert.equal(sumOf(metrics, 'flashline_queue_jobs', { state: 'wait' }), expected.waiting);
    assert.equal(sumOf(metrics, 'flashline_queue_jobs', { state: 'failed' }), expected.failed);
    for (let p = 0; p < PARTITIONS; p++)
      assert.equal(
        sumOf(metrics, 'flashline_queue_partition_jobs', { queue: partition(p).name, state: 'wait' }),
        1 + accepted[p]!,
      );
  });

  it('refuses the viewer every change on every partition (403); nothing but the audit log changes', async () => {
    const before: ClusterSnapshot = await snapshotCluster(ctx.cluster);
    const attempts: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const name = partition(p).name;
      const { failed, waiting, delayed } = jobsOf(p);
      for (const path of [
        `/${failed}/retry`,
        `/${waiting}/clean`,
        `/${delayed}/promote`,
        '/retry/failed',
        '/clean/failed',
        '/pause',
      ]) {
        const reply = await request(dash().app).put(boardApi(name, path)).auth(VIEWER.user, VIEWER.password).send({});
        attempts.push(`${reply.status} ${name}${path}`);
      }
    }
    const after = await snapshotCluster(ctx.cluster);
    const notAudit = (snapshot: ClusterSnapshot) =>
      Object.fromEntries(Object.entries(snapshot.keys).filter(([key]) => !key.startsWith(`${PREFIX}:{audit}:`)));
    assert.deepEqual(
      notAudit(after),
      notAudit(before),
      `a refused change changed the cluster:\n${snapshotDiff(before, after)}`,
    );
    assert.deepEqual(
      attempts.filter((attempt) => !attempt.startsWith('403 ')),
      [],
      'every change the viewer tried is refused with 403',
    );
    for (let p = 0; p < PARTITIONS; p++) {
      assert.equal(await stateOf(p, jobsOf(p).failed), 'failed');
      assert.equal(await stateOf(p, jobsOf(p).delayed), 'delayed');
      assert.equal(await partition(p).isPaused(), false);
    }
    // One entry per viewer and kind of action per AUDIT_REFUSED_EVERY_S (dashboard.md): the first of each kind, partition 0's.
    const refused = await auditUntil(6, (entry) => entry.user === VIEWER.user);
    assert.ok(refused.length >= 6, `${refused.length} refused attempts audited`);
    assert.ok(refused.every((entry) => entry.status === 403 && entry.role === 'viewer' && entry.phase === 'refused'));
    assert.ok(refused.some((entry) => entry.action === 'retry' && entry.jobId === jobsOf(0).failed));
  });

  it('lets the admin retry, retry all, promote and clean on every partition, each reaching its partition and audited', async () => {
    const started = Date.now();
    for (let p = 0; p < PARTITIONS; p++) {
      const name = partition(p).name;
      const { failed, failedToo, waiting, delayed } = jobsOf(p);
      const put = (path: string) => request(dash().app).put(boardApi(name, path)).auth(ADMIN.user, ADMIN.password);
      await put(`/${failed}/retry`).expect(204);
      assert.equal(await stateOf(p, failed), 'waiting', `${name}: the retried job`);
      assert.equal(await stateOf(p, failedToo), 'failed', `${name}: only the one job was retried`);
      await put('/retry/failed').expect(200);
      assert.equal(await stateOf(p, failedToo), 'waiting', `${name}: retry all`);
      await put(`/${delayed}/promote`).expect(204);
      assert.equal(await stateOf(p, delayed), 'waiting', `${name}: the promoted job`);
      await put(`/${waiting}/clean`).expect(204);
      assert.equal(await stateOf(p, waiting), undefined, `${name}: the cleaned job`);
      // Refused by Bull Board (the job is not failed any more), and recorded with its status too.
      await put(`/${failed}/retry`).expect(400);
    }
    // Nothing moved in another partition than the one named: every partition now holds exactly its own.
    for (let p = 0; p < PARTITIONS; p++) {
      const counts = await partition(p).getJobCounts('waiting', 'failed', 'delayed');
      assert.deepEqual(counts, { waiting: 3 + accepted[p]!, failed: 0, delayed: 0 }, partition(p).name);
    }

    const entries = await auditUntil(5 * PARTITIONS, (e) => e.user === ADMIN.user && e.phase === 'answered');
    const seen = entries.map(({ action, jobId, status, queue, path }) => ({ action, jobId, status, queue, path }));
    for (let p = 0; p < PARTITIONS; p++) {
      const name = partition(p).name;
      const { failed, waiting, delayed } = jobsOf(p);
      const expected = [
        { action: 'retry', jobId: failed, status: 400, queue: name, path: `/api/queues/${name}/${failed}/retry` },
        { action: 'clean', jobId: waiting, status: 204, queue: name, path: `/api/queues/${name}/${waiting}/clean` },
        { action: 'promote', jobId: delayed, status: 204, queue: name, path: `/api/queues/${name}/${delayed}/promote` },
        {
          action: 'retry-all:failed',
          jobId: undefined,
          status: 200,
          queue: name,
          path: `/api/queues/${name}/retry/failed`,
        },
        { action: 'retry', jobId: failed, status: 204, queue: name, path: `/api/queues/${name}/${failed}/retry` },
      ];
      assert.deepEqual(
        seen.filter((entry) => entry.queue === name),
        expected,
        `${name}: one entry per admin action, newest first`,
      );
    }
    assert.ok(entries.every((entry) => Date.parse(entry.at) >= started - 1000));

    // The panel follows: the partitions' jobs summed again.
    const view = (await readEvents(`${base}/sale/events`, 2)).at(-1)!;
    assert.deepEqual({ ...view.jobs }, await summedCounts());
    assert.equal(view.jobs.waiting, 3 * PARTITIONS + PRODUCTS.length);
    assert.equal(view.jobs.failed, 0);
  });

  describe('an order failed for good in partition 3, retried from the board, decided by a real worker', () => {
    let e2e: DashboardFixture;
    let worker: AppProcess;
    let productId: string;
    let orderId: string;
    const queue = () => e2e.queues[3]!;
    const until = async (what: string, done: () => Promise<boolean>) => {
      for (const deadline = Date.now() + 15_000; !(await done()); await sleep(50))
        assert.ok(Date.now() < deadline, `${what}: not within 15 s\n${worker.output().slice(-3000)}`);
    };

    before(() => {
      // The producer's job options (attempts, backoff), as the API would set them.
      e2e = dashboardOnCluster(ctx.cluster.seedNodes, 'e2e', {
        env: { QUEUE_PARTITIONS: String(PARTITIONS), JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50' },
      });
      closing.push(() => e2e.close());
    });

    it("reopens and confirms the order once the admin retries its job (the viewer's retry refused)", async () => {
      await waitUntilReady(e2e.redis, 10_000);
      const { keys } = e2e;
      const found = PRODUCTS.find((id) => partitionOfGroup(keys.group(id), PARTITIONS) === 3);
      assert.ok(found, 'no product of partition 3');
      productId = found;
      await setProduct(e2e.redis, keys, productId, { stock: 5 });
      // A holder that never lets go: every attempt waits LOCK_WAIT_MS for the lock and fails.
      await e2e.redis.set(keys.lock(productId), 'a-holder-that-never-lets-go');
      const queues: OrdersQueues = {
        all: e2e.queues as Queue<OrdersJobData>[],
        ofGroup: (group) => e2e.queues[partitionOfGroup(group, PARTITIONS)] as Queue<OrdersJobData>,
        close: async () => {},
      };
      ({ orderId } = await acceptOrThrow(testAcceptor({ redis: e2e.redis, keys, queues }), {
        productId,
        userId: 'gina',
        quantity: 2,
      }));
      worker = startApp('apps/worker/src/main.ts', {
        REDIS_CLUSTER_NODES: ctx.cluster.seedNodes,
        KEY_PREFIX: 'e2e',
        QUEUE_PARTITIONS: String(PARTITIONS),
        WORKER_CONCURRENCY: '4',
        JOB_ATTEMPTS: '2',
        JOB_BACKOFF_MS: '50',
        LOCK_WAIT_MS: '100',
      });
      closing.unshift(() => worker.stop());
      await worker.waitForLog(/^worker ready$/);

      // The order is ended just after its job is moved to failed (the worker's failed handler): wait for both.
      await until(
        'the job failed for good and its order ended',
        async () =>
          (await (await queue().getJob(orderId))?.getState()) === 'failed' &&
          (await getOrder(e2e.redis, keys, orderId))?.status === 'rejected',
      );
      const failed = await getOrder(e2e.redis, keys, orderId);
      assert.deepEqual([failed?.status, failed?.reason], ['rejected', 'processing_failed']);

      const retry = boardApi(queue().name, `/${orderId}/retry`);
      await request(e2e.app).put(retry).auth(VIEWER.user, VIEWER.password).expect(403);
      assert.equal(await (await queue().getJob(orderId))!.getState(), 'failed', "the viewer's retry moved the job");
      await e2e.redis.del(keys.lock(productId));
      await request(e2e.app).put(retry).auth(ADMIN.user, ADMIN.password).expect(204);

      await until(
        'the order confirmed',
        async () => (await getOrder(e2e.redis, keys, orderId))?.status === 'confirmed',
      );
      // Reopened once, by the operator's retry: not by the automatic retries before it failed for good.
      const reopened = worker
        .output()
        .split('\n')
        .filter((line) => line.includes('"msg":"failed order retried by an operator"'));
      assert.equal(reopened.length, 1, reopened.join('\n'));
      assert.match(reopened[0]!, new RegExp(`"orderId":"${orderId}","reopened":true`));
      assert.deepEqual(await getProduct(e2e.redis, keys, productId), {
        productId,
        stock: 3,
        sold: 2,
        perUserLimit: null,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      assert.equal(await e2e.redis.hget(keys.product(productId), 'rejected:processing_failed'), '0');
      const [entry] = (await e2e.audit.newest(10)).filter((e) => e.user === ADMIN.user && e.phase === 'answered');
      assert.deepEqual([entry?.action, entry?.jobId, entry?.queue, entry?.status], ['retry', orderId, 'orders-3', 204]);
    });

    it("mints and doubles nothing on partition 3: a job added by hand, the completed job duplicated, and 'retry all completed'", async () => {
      const { keys } = e2e;
      const admin = (call: request.Test) => call.auth(ADMIN.user, ADMIN.password);
      await until('the job completed', async () => (await (await queue().getJob(orderId))?.getState()) === 'completed');
      const ledger = await e2e.redis.hgetall(keys.buyers(productId));
      const data: OrdersJobData = (await queue().getJob(orderId))!.data as OrdersJobData;
      const minted = newOrderId(productId);
      const add = await admin(request(e2e.app).post(boardApi('orders-3', '/add'))).send({
        name: 'order',
        data: { orders: [{ orderId: minted, productId, userId: 'mallory', quantity: 3 }] },
        options: {},
      });
      assert.equal(add.status, 200, JSON.stringify(add.body));
      const mintedJob = String((add.body as { job: { id: string } }).job.id);
      const duplicate = await admin(request(e2e.app).post(boardApi('orders-3', '/add'))).send({
        name: 'order',
        data,
        options: {},
      });
      assert.equal(duplicate.status, 200, JSON.stringify(duplicate.body));
      await admin(request(e2e.app).put(boardApi('orders-3', '/retry/completed'))).expect(200);

      await until('partition 3 idle', async () => {
        const counts = await queue().getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return (
          Object.values(counts).every((n) => n === 0) && (await queue().getJob(mintedJob))?.finishedOn !== undefined
        );
      });
      assert.deepEqual(
        (await queue().getJob(mintedJob))?.returnvalue,
        { unknown: 1 },
        'the minted order was not refused',
      );
      assert.equal(await getOrder(e2e.redis, keys, minted), null, 'a minted order was recorded');
      assert.deepEqual(await e2e.redis.hgetall(keys.buyers(productId)), ledger, 'a buyer was charged twice');
      assert.deepEqual(await getProduct(e2e.redis, keys, productId), {
        productId,
        stock: 3,
        sold: 2,
        perUserLimit: null,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      const entries = (await e2e.audit.newest(20)).filter((e) => e.user === ADMIN.user && e.phase === 'answered');
      assert.deepEqual(
        entries.slice(0, 3).map(({ action, queue: name, status }) => [action, name, status]),
        [
          ['retry-all:completed', 'orders-3', 200],
          ['add', 'orders-3', 200],
          ['add', 'orders-3', 200],
        ],
      );
    });
  });
});
