import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ORDERS_QUEUE, listen, loadConfig, type Listening } from '@flashline/core';
import { startRedis, type TestRedis } from '@flashline/test-utils';
import { AuditLog, type AuditEntry } from '../src/audit/auditLog.ts';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

const api = (path: string) => `/admin/queues/api/queues/${ORDERS_QUEUE}${path}`;
const basic = ({ user, password }: { user: string; password: string }) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Polls the audit log until `found` holds (entries are written as responses close). */
async function auditUntil(fixture: DashboardFixture, found: (entries: AuditEntry[]) => boolean): Promise<AuditEntry[]> {
  let entries: AuditEntry[] = [];
  for (let i = 0; i < 100 && !found((entries = await fixture.audit.newest(1000))); i++) await sleep(20);
  return entries;
}

describe('audit log: bounded under a flood, every admin action on record', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;

  before(async () => {
    server = await startRedis();
    fixture = dashboardOn(server, 'audit', { env: { AUDIT_REFUSED_MAX: '100', AUDIT_REFUSED_EVERY_S: '2' } });
  });
  after(async () => {
    await fixture.close();
    await server.stop();
  });

  it('keeps a flood of refused viewer attempts with long paths small, and the admin action made before it', async () => {
    await request(fixture.app).put(api('/pause')).auth(ADMIN.user, ADMIN.password).expect(200);
    await auditUntil(fixture, (entries) => entries.some((e) => e.phase === 'answered'));

    // 600 refusals, each with an 8 kB path: a job id, a state or an invented action in the long part.
    const long = 'x'.repeat(8000);
    const paths = [
      (i: number) => api(`/${long}${i}/retry`),
      (i: number) => api(`/retry/${long}${i}`),
      (i: number) => api(`/${i}/${long}`),
    ];
    const floodStartedAt = Date.now();
    for (let i = 0; i < 600; i += 20)
      await Promise.all(
        Array.from({ length: 20 }, (_, k) =>
          request(fixture.app)
            .put(paths[(i + k) % 3]!(i + k))
            .auth(VIEWER.user, VIEWER.password)
            .expect(403),
        ),
      );
    const floodMs = Date.now() - floodStartedAt;
    await sleep(200);

    const refusedKey = fixture.keys.auditRefused();
    const bytes = Number(await fixture.redis.memory('USAGE', refusedKey));
    const length = await fixture.redis.xlen(refusedKey);
    // Before the fix: 600 entries and about 5 MB. Now one entry per kind and 2 s window (a slow machine's
    // flood may span more than one), every field cut short.
    const windows = Math.floor(floodMs / 2000) + 1;
    assert.ok(length <= 3 * windows + 1, `${length} entries for 600 refusals of 3 kinds in ${floodMs} ms`);
    assert.ok(bytes < 1_700 * Math.max(10, length), `${bytes} bytes in the refused attempts' stream`);
    const refused = await auditUntil(fixture, () => true);
    for (const entry of refused) {
      assert.ok(entry.path.length <= 200 && (entry.jobId ?? '').length <= 200 && entry.action.length <= 200);
    }

    // The window over, the next attempt of a kind carries the count of those collapsed into it.
    await sleep(2100);
    await request(fixture.app).put(api('/tv.AAAAAAAAAAAAAAAA/retry')).auth(VIEWER.user, VIEWER.password).expect(403);
    const entries = await auditUntil(fixture, (all) => all.some((e) => e.jobId === 'tv.AAAAAAAAAAAAAAAA'));
    const carried = entries.find((e) => e.jobId === 'tv.AAAAAAAAAAAAAAAA');
    const retries = entries.filter((e) => e.phase === 'refused' && e.action === 'retry');
    assert.ok((carried?.count ?? 0) >= 1, 'the entry after the window counts no attempt');
    // Every attempt is counted once over the entries, those collapsed included: 200 in the flood and one after.
    assert.equal(
      retries.reduce((sum, e) => sum + (e.count ?? 0), 0),
      201,
      'the retries collapsed into an entry are not all counted in the next',
    );

    const admin = entries.filter((e) => e.role === 'admin');
    assert.deepEqual(
      admin.map(({ phase, action, status }) => ({ phase, action, status })),
      [
        { phase: 'answered', action: 'pause', status: 200 },
        { phase: 'intent', action: 'pause', status: undefined },
      ],
      "the admin's action is still in the log",
    );
    assert.equal(admin[0]!.intent, admin[1]!.id, 'the outcome names its intent');
  });

  it('caps the refused attempts at about AUDIT_REFUSED_MAX, and admin actions only by age', async () => {
    const settings = { retentionMs: 50, refusedMax: 100, refusedEveryMs: 1 };
    const audit = new AuditLog(fixture.redis, fixture.keys, settings);
    const attempt = { at: '', user: 'watcher', role: 'viewer', method: 'PUT', path: '/x', action: 'pause' } as const;
    const key = fixture.keys.audit();
    const kept = await fixture.redis.xlen(key);
    assert.ok(kept >= 2, 'the first test left no admin entries');
    for (let i = 0; i < 400; i++) {
      await audit.refused({ ...attempt, status: 403 });
      await sleep(1);
    }
    // MAXLEN ~ trims whole nodes of 100 entries: at most one node more than asked.
    assert.ok((await fixture.redis.xlen(fixture.keys.auditRefused())) <= 200);
    assert.equal(await fixture.redis.xlen(key), kept, 'refused attempts pushed admin entries out');
    const newest = await audit.newest(1000);
    assert.ok(newest.some((e) => e.role === 'admin' && e.action === 'pause' && e.phase === 'answered'));

    const yearLong = new AuditLog(fixture.redis, fixture.keys, { ...settings, retentionMs: 365 * 24 * 3600 * 1000 });
    for (let i = 0; i < 250; i++) await yearLong.admin({ ...attempt, role: 'admin', phase: 'intent' });
    assert.equal(await fixture.redis.xlen(key), kept + 250, 'admin entries younger than the retention are all kept');
    await sleep(100);
    await audit.admin({ ...attempt, role: 'admin', phase: 'intent' });
    assert.ok((await fixture.redis.xlen(key)) <= 101, 'admin entries past the retention are trimmed');
  });

  it("records an admin's action even when the client hangs up before the answer", async () => {
    const http: Listening = await listen(fixture.app, 0, '127.0.0.1', loadConfig({}).http);
    try {
      const path = `/api/queues/${ORDERS_QUEUE}/resume`;
      const socket = connect(http.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      // Half a body: Bull Board waits for the rest, and the client leaves first.
      socket.write(
        `PUT /admin/queues${path} HTTP/1.1\r\nHost: dashboard\r\nAuthorization: ${basic(ADMIN)}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"par',
      );
      await sleep(200);
      socket.destroy();

      const entries = await auditUntil(fixture, (all) => all.some((e) => e.path === path && e.phase !== 'intent'));
      const mine = entries.filter((e) => e.path === path);
      assert.deepEqual(
        mine.map((e) => e.phase),
        ['client_gone', 'intent'],
      );
      assert.equal(mine[0]!.intent, mine[1]!.id);
      assert.equal(mine[0]!.user, ADMIN.user);
    } finally {
      await http.close();
    }
  });
});
