import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ORDERS_QUEUE, queuePrefixOf } from '@flashline/core';
import { startRedis, type TestRedis } from '@flashline/test-utils';
import { ADMIN, dashboardOn, type DashboardFixture } from './fixture.ts';

interface Route {
  method: string;
  route: string | string[];
}
// Every route of the installed Bull Board, so one it adds in a later version is tried too.
const { appRoutes } = createRequire(import.meta.url)('@bull-board/api/dist/routes.js') as {
  appRoutes: { api: Route[] };
};
const JOB = 'tv.CROSSSITEAAAAAAAA';
const mutations = appRoutes.api
  .filter((route) => route.method !== 'get')
  .flatMap((route) => (Array.isArray(route.route) ? route.route : [route.route]))
  .map((route) =>
    route
      .replace(':queueName', ORDERS_QUEUE)
      .replace(':jobId', JOB)
      .replace(':queueStatus', 'waiting')
      .replace(':schedulerId', 'nightly'),
  );

// What a page on another site can make a browser send without a preflight: a form's POST (or a
// fetch in no-cors mode) with one of these bodies, the operator's cached basic-auth credentials
// replayed by the browser.
const simpleBodies = [
  { type: 'application/x-www-form-urlencoded', body: 'name=order&data=%7B%7D&options=%7B%7D' },
  { type: 'text/plain', body: '{"name":"order","data":{"orders":[]},"options":{}}' },
  {
    type: 'multipart/form-data; boundary=x',
    body: '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\norder\r\n--x--\r\n',
  },
];

describe('cross-site requests with the admin credentials a browser replays change nothing', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;

  /** Every key of the queue with its serialized value: any change to the queue changes it. */
  async function queueState(): Promise<string> {
    const keys = (await fixture.redis.keys(`${queuePrefixOf('cross')}*`)).sort();
    const dumps = await Promise.all(keys.map((key) => fixture.redis.dumpBuffer(key)));
    return keys.map((key, i) => `${key}=${dumps[i]?.toString('hex')}`).join('\n');
  }

  before(async () => {
    server = await startRedis();
    fixture = dashboardOn(server, 'cross');
    await fixture.queue.add('order', { orderId: JOB, productId: 'tv', userId: 'alice', quantity: 1 }, { jobId: JOB });
  });
  after(async () => {
    await fixture.close();
    await server.stop();
  });

  // Bull Board 9.10.1 itself adds a job (name "", data {}) for a form POST to /add: the guard in front of it refuses.
  it("refuses a form POST to each of Bull Board's mutation routes, 4xx, and the queue stays as it was", async () => {
    assert.ok(mutations.includes(`/api/queues/${ORDERS_QUEUE}/add`));
    const before = await queueState();
    for (const path of mutations) {
      for (const { type, body } of simpleBodies) {
        for (const site of [{}, { 'Sec-Fetch-Site': 'cross-site' }]) {
          const reply = await request(fixture.app)
            .post(`/admin/queues${path}`)
            .auth(ADMIN.user, ADMIN.password)
            .set({ Origin: 'https://evil.example', 'Content-Type': type, ...site })
            .send(body);
          const what = `POST ${path} (${type})`;
          assert.ok(reply.status >= 400 && reply.status < 500, `${what}: ${reply.status}`);
          assert.equal(reply.headers['access-control-allow-origin'], undefined, what);
        }
      }
    }
    assert.equal(await queueState(), before, 'a cross-site request changed the queue');
    assert.deepEqual(await fixture.queue.getJobCounts('waiting'), { waiting: 1 });
    assert.equal(await fixture.queue.isPaused(), false);
  });

  it('grants no CORS preflight, so a PUT or a JSON body from another site is never sent', async () => {
    for (const path of [`/api/queues/${ORDERS_QUEUE}/${JOB}/clean`, `/api/queues/${ORDERS_QUEUE}/add`]) {
      for (const withCredentials of [false, true]) {
        const call = request(fixture.app).options(`/admin/queues${path}`).set({
          Origin: 'https://evil.example',
          'Access-Control-Request-Method': 'PUT',
          'Access-Control-Request-Headers': 'content-type',
        });
        const reply = await (withCredentials ? call.auth(ADMIN.user, ADMIN.password) : call);
        assert.equal(reply.headers['access-control-allow-origin'], undefined, path);
        assert.equal(reply.headers['access-control-allow-methods'], undefined, path);
        assert.equal(reply.headers['access-control-allow-credentials'], undefined, path);
      }
    }
  });
});
