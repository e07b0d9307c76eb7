import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { startRedis, type TestRedis, bodyOf } from '@flashline/test-utils';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

const TOKEN = 'metrics-token-0123456789';

describe('dashboard: what it shows to whom, and to other sites', () => {
  let server: TestRedis;
  const fixtures: DashboardFixture[] = [];
  const on = (env: Record<string, string>) => {
    const fixture = dashboardOn(server, `exp${fixtures.length}`, { env, metrics: true });
    fixtures.push(fixture);
    return fixture.app;
  };

  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const fixture of fixtures) await fixture.close();
    await server.stop();
  });

  it('answers /metrics with NODE_ENV=production only to METRICS_TOKEN (401 when none is set)', async () => {
    const unset = on({ NODE_ENV: 'production' });
    const refused = await request(unset).get('/metrics').expect(401);
    assert.equal(bodyOf(refused).error.code, 'unauthorized');
    assert.match(bodyOf(refused).error.message, /METRICS_TOKEN/);
    await request(unset).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(401);

    const set = on({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN });
    await request(set).get('/metrics').expect(401);
    await request(set)
      .get('/metrics')
      .set('Authorization', `Bearer ${TOKEN}`)
      .expect(200)
      .expect(/flashline_/);

    // Outside production it stays open unless a token is set.
    await request(on({ NODE_ENV: 'development' }))
      .get('/metrics')
      .expect(200);
    await request(on({ NODE_ENV: 'development', METRICS_TOKEN: TOKEN }))
      .get('/metrics')
      .expect(401);
  });

  it("refuses the viewer Bull Board's Redis INFO and metrics-history routes (403), not the admin", async () => {
    const app = on({});
    for (const path of ['/admin/queues/api/redis/stats', '/admin/queues/api/metrics/history']) {
      const refused = await request(app).get(path).auth(VIEWER.user, VIEWER.password).expect(403);
      assert.equal(bodyOf(refused).error.code, 'forbidden', path);
    }
    const stats = await request(app).get('/admin/queues/api/redis/stats').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.match(String((stats.body as { version?: string }).version), /^\d+\.\d+/);
    // The viewer's page does not ask for them.
    const page = await request(app).get('/admin/queues').auth(VIEWER.user, VIEWER.password).expect(200);
    assert.match(page.text, /"hideRedisDetails":true/);
  });

  it('forbids framing on every response and names no server software', async () => {
    const app = on({});
    const asViewer = (path: string) => request(app).get(path).auth(VIEWER.user, VIEWER.password);
    const replies = [
      await asViewer('/admin/queues').expect(200),
      await asViewer('/admin/queues/queue/orders').expect(200),
      await asViewer('/admin/queues/api/queues').expect(200),
      await asViewer('/admin/queues/static/favicon-32x32.png'),
      await asViewer('/sale').expect(200),
      await asViewer('/sale/assets/sale.js').expect(200),
      await asViewer('/admin/audit').expect(403),
      await asViewer('/no-such-page').expect(404),
      await request(app).get('/admin/queues').expect(401),
      await request(app).get('/healthz').expect(200),
      await request(app).get('/metrics').expect(200),
    ];
    for (const reply of replies) {
      const what = `${reply.status} ${(reply as unknown as { req: { path: string } }).req.path}`;
      assert.equal(reply.headers['x-frame-options'], 'DENY', what);
      assert.match(reply.headers['content-security-policy'] ?? '', /frame-ancestors 'none'/, what);
      assert.equal(reply.headers['x-powered-by'], undefined, what);
    }
  });
});
