import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { Worker } from 'bullmq';
import request from 'supertest';
import { ORDERS_QUEUE, connectRedis, queuePrefixOf } from '@flashline/core';
import { startRedis, type TestRedis, bodyOf } from '@flashline/test-utils';
import { createBoards } from '../src/board/boards.ts';
import type { AuditEntry } from '../src/audit/auditLog.ts';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

/** What the tests read of Bull Board's API answers: the queue list, one job, and the audit log. */
interface BoardQueues {
  queues: {
    name: string;
    readOnlyMode: boolean;
    counts: Record<string, number>;
    jobs: { id: string; data: Record<string, unknown> }[];
  }[];
}
interface BoardJob {
  job: { data: Record<string, unknown> };
}
interface AuditReply {
  entries: AuditEntry[];
}

const FAILED = 'tv.FAILEDAAAAAAAAAAA';
const WAITING = 'tv.WAITINGAAAAAAAAAA';
const DELAYED = 'tv.DELAYEDAAAAAAAAAA';
const order = (orderId: string) => ({ orderId, productId: 'tv', userId: 'alice', quantity: 1 });
const api = (path: string) => `/admin/queues/api/queues/${ORDERS_QUEUE}${path}`;

/** Fails one job for good (attempts 1) with a throw-away worker, so the board has a failed job. */
async function failOneJob(fixture: DashboardFixture, server: TestRedis, prefix: string): Promise<void> {
  await fixture.queue.add('order', order(FAILED), { jobId: FAILED, attempts: 1 });
  const connection = connectRedis({ redisUrl: server.url, redisTimeoutMs: 1000 }, 'worker');
  const worker = new Worker(ORDERS_QUEUE, () => Promise.reject(new Error('simulated infrastructure failure')), {
    connection,
    prefix: queuePrefixOf(prefix),
  });
  await new Promise<void>((resolve) => worker.on('failed', () => resolve()));
  await worker.close();
  connection.disconnect();
}

/** Audit entries are written when the response finishes, so a test waits for them to land. */
async function auditUntil(fixture: DashboardFixture, count: number): Promise<AuditEntry[]> {
  for (let i = 0; i < 50; i++) {
    const entries = await fixture.audit.newest(100);
    if (entries.length >= count) return entries;
    await sleep(20);
  }
  return fixture.audit.newest(100);
}

describe('dashboard: roles, the read-only viewer, the audit log', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;
  let app: DashboardFixture['app'];

  before(async () => {
    server = await startRedis();
    fixture = dashboardOn(server, 'dash');
    app = fixture.app;
    await failOneJob(fixture, server, 'dash');
    await fixture.queue.add('order', order(WAITING), { jobId: WAITING });
    await fixture.queue.add('order', { ...order(DELAYED), userId: 'bob' }, { jobId: DELAYED, delay: 3_600_000 });
  });
  after(async () => {
    await fixture.close();
    await server.stop();
  });

  it('refuses every page and API call without the right credentials (401)', async () => {
    const wrong = [
      undefined,
      [ADMIN.user, 'wrong'],
      [VIEWER.user, ADMIN.password],
      [ADMIN.user, VIEWER.password],
      ['nobody', ADMIN.password],
    ] as const;
    for (const path of [
      '/',
      '/admin/queues',
      api(''),
      api(`/${FAILED}`),
      '/admin/audit',
      '/sale',
      '/sale/events',
      '/no-such-page',
    ]) {
      for (const credentials of wrong) {
        const call = request(app).get(path);
        const reply = await (credentials ? call.auth(credentials[0], credentials[1]) : call).expect(401);
        assert.match(reply.headers['www-authenticate'] ?? '', /^Basic /);
        assert.equal(bodyOf(reply).error.code, 'unauthorized');
      }
    }
    await request(app)
      .put(api(`/${FAILED}/retry`))
      .expect(401);
  });

  it('answers /healthz without credentials', async () => {
    await request(app).get('/healthz').expect(200);
  });

  it('shows the viewer the orders queue with its jobs, the buyer id redacted', async () => {
    await request(app).get('/admin/queues').auth(VIEWER.user, VIEWER.password).expect(200).expect(/<html/i);
    const list = await request(app)
      .get('/admin/queues/api/queues?activeQueue=orders&status=latest')
      .auth(VIEWER.user, VIEWER.password)
      .expect(200);
    const queue = (list.body as BoardQueues).queues.find((q) => q.name === ORDERS_QUEUE);
    assert.ok(queue, 'the orders queue is not on the board');
    assert.equal(queue.readOnlyMode, true);
    assert.deepEqual([queue.counts.failed, queue.counts.waiting, queue.counts.delayed], [1, 1, 1]);
    const jobs = queue.jobs;
    assert.ok(jobs.length >= 2, 'no jobs on the viewer board');
    for (const job of jobs) {
      assert.match(String(job.data.userId), /^user-[0-9a-f]{10}$/, 'the viewer sees a raw user id');
      assert.equal(job.data.productId, 'tv');
      assert.equal(job.data.quantity, 1);
    }
    const alice = jobs.filter((job) => job.id !== DELAYED).map((job) => job.data.userId);
    const bob = jobs.find((job) => job.id === DELAYED)?.data.userId;
    assert.equal(new Set(alice).size, 1, "one buyer's orders share one pseudonym");
    assert.notEqual(bob, alice[0]);

    const one = await request(app)
      .get(api(`/${FAILED}`))
      .auth(VIEWER.user, VIEWER.password)
      .expect(200);
    assert.equal((one.body as BoardJob).job.data.userId, alice[0]);
    assert.doesNotMatch(JSON.stringify(one.body), /alice/);
    const asAdmin = await request(app)
      .get(api(`/${FAILED}`))
      .auth(ADMIN.user, ADMIN.password)
      .expect(200);
    assert.equal((asAdmin.body as BoardJob).job.data.userId, 'alice', 'the admin sees the order as it is');
  });

  it('refuses every change a viewer tries (403), and nothing changes', async () => {
    const attempts: [method: 'put' | 'post', path: string][] = [
      ['put', api(`/${FAILED}/retry`)],
      ['put', api(`/${FAILED}/clean`)],
      ['put', api(`/${DELAYED}/promote`)],
      ['put', api('/retry/failed')],
      ['put', api('/clean/failed')],
      ['put', api('/promote')],
      ['put', api('/pause')],
      ['put', '/admin/queues/api/queues/pause'],
      ['post', api('/add')],
    ];
    for (const [method, path] of attempts) {
      const agent = request(app);
      const reply = await agent[method](path)
        .auth(VIEWER.user, VIEWER.password)
        .send({ name: 'x', data: {} })
        .expect(403);
      assert.equal(bodyOf(reply).error.code, 'forbidden', `${method} ${path}`);
      assert.match(bodyOf(reply).error.message, /read-only/);
    }
    assert.equal(await (await fixture.queue.getJob(FAILED))!.getState(), 'failed');
    assert.equal(await (await fixture.queue.getJob(DELAYED))!.getState(), 'delayed');
    assert.equal(await fixture.queue.isPaused(), false);
    assert.deepEqual(await fixture.queue.getJobCounts('failed', 'waiting', 'delayed'), {
      failed: 1,
      waiting: 1,
      delayed: 1,
    });

    const entries = await auditUntil(fixture, attempts.length);
    const refused = entries.filter((entry) => entry.user === VIEWER.user);
    assert.equal(refused.length, attempts.length, 'every refused attempt is in the audit log');
    assert.ok(refused.every((entry) => entry.status === 403 && entry.role === 'viewer' && entry.phase === 'refused'));
    assert.ok(
      refused.some((entry) => entry.action === 'retry' && entry.jobId === FAILED && entry.queue === ORDERS_QUEUE),
    );
  });

  it("keeps the viewer's board read-only in Bull Board itself too (405 without the guard)", async () => {
    const bare = express();
    bare.use((_req, res, next) => {
      res.locals.principal = { user: VIEWER.user, role: 'viewer' };
      next();
    });
    bare.use('/admin/queues', createBoards([fixture.queue]));
    await request(bare)
      .put(api(`/${FAILED}/retry`))
      .expect(405);
    assert.equal(await (await fixture.queue.getJob(FAILED))!.getState(), 'failed');
  });

  it('lets the admin retry, promote and clean, and writes each to the audit log', async () => {
    const before = Date.now();
    await request(app)
      .put(api(`/${FAILED}/retry`))
      .auth(ADMIN.user, ADMIN.password)
      .expect(204);
    assert.equal(await (await fixture.queue.getJob(FAILED))!.getState(), 'waiting');
    await request(app)
      .put(api(`/${DELAYED}/promote`))
      .auth(ADMIN.user, ADMIN.password)
      .expect(204);
    assert.equal(await (await fixture.queue.getJob(DELAYED))!.getState(), 'waiting');
    await request(app)
      .put(api(`/${WAITING}/clean`))
      .auth(ADMIN.user, ADMIN.password)
      .expect(204);
    assert.equal(await fixture.queue.getJob(WAITING), undefined);
    // A refused admin action (the job is not failed any more) is recorded with its status too.
    await request(app)
      .put(api(`/${FAILED}/retry`))
      .auth(ADMIN.user, ADMIN.password)
      .expect(400);

    // 9 refused viewer attempts, then an intent and an outcome for each of the admin's 4 actions.
    const entries = (await auditUntil(fixture, 17)).filter(
      (entry) => entry.user === ADMIN.user && entry.phase === 'answered',
    );
    assert.deepEqual(
      entries.map(({ action, jobId, status, role, method, queue }) => ({ action, jobId, status, role, method, queue })),
      [
        { action: 'retry', jobId: FAILED, status: 400, role: 'admin', method: 'PUT', queue: ORDERS_QUEUE },
        { action: 'clean', jobId: WAITING, status: 204, role: 'admin', method: 'PUT', queue: ORDERS_QUEUE },
        { action: 'promote', jobId: DELAYED, status: 204, role: 'admin', method: 'PUT', queue: ORDERS_QUEUE },
        { action: 'retry', jobId: FAILED, status: 204, role: 'admin', method: 'PUT', queue: ORDERS_QUEUE },
      ],
      'newest first, one entry per action',
    );
    for (const entry of entries) {
      assert.ok(Date.parse(entry.at) >= before - 1000 && Date.parse(entry.at) <= Date.now(), `when: ${entry.at}`);
      assert.equal(entry.path, `/api/queues/${ORDERS_QUEUE}/${entry.jobId}/${entry.action}`);
    }
  });

  it('shows the audit log to the admin only, newest first, with a limit', async () => {
    const viewer = await request(app).get('/admin/audit').auth(VIEWER.user, VIEWER.password).expect(403);
    assert.equal(bodyOf(viewer).error.code, 'forbidden');
    const all = await request(app).get('/admin/audit').auth(ADMIN.user, ADMIN.password).expect(200);
    const { entries } = all.body as AuditReply;
    assert.ok(entries.length >= 17);
    const ids = entries.map((entry) => entry.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => compareStreamIds(b, a)),
      'newest first',
    );
    const one = await request(app).get('/admin/audit?limit=1').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.deepEqual((one.body as AuditReply).entries, entries.slice(0, 1));
    for (const bad of ['0', '1001', 'ten', '-1']) {
      const reply = await request(app).get(`/admin/audit?limit=${bad}`).auth(ADMIN.user, ADMIN.password).expect(400);
      assert.equal(bodyOf(reply).error.code, 'invalid_request');
    }
    // Append-only: the dashboard offers no way to change or delete an entry.
    for (const method of ['delete', 'put', 'post'] as const)
      await request(app)[method]('/admin/audit').auth(ADMIN.user, ADMIN.password).expect(404);
    const stored =
      (await fixture.redis.xlen(fixture.keys.audit())) + (await fixture.redis.xlen(fixture.keys.auditRefused()));
    assert.equal(stored, entries.length);
  });
});

function compareStreamIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}
