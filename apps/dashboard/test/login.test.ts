import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Logger } from '@flashline/core';
import { startRedis, type TestRedis, bodyOf } from '@flashline/test-utils';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

describe('dashboard logins: failures throttled per address and per address and name, and logged', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = (level, msg, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) });

  before(async () => {
    server = await startRedis();
    fixture = dashboardOn(server, 'login', {
      log,
      // trust proxy: each test picks its client address with X-Forwarded-For.
      env: {
        LOGIN_FAILURES_PER_IP: '3',
        LOGIN_FAILURES_PER_USER: '5',
        LOGIN_FAILURE_WINDOW_S: '60',
        TRUST_PROXY: 'true',
      },
    });
  });
  after(async () => {
    await fixture.close();
    await server.stop();
  });

  const login = (from: string, user: string, password: string) =>
    request(fixture.app).get('/admin/queues/api/queues').set('X-Forwarded-For', from).auth(user, password);

  it('refuses an address after LOGIN_FAILURES_PER_IP failures (429, Retry-After), right password or not', async () => {
    for (let i = 0; i < 3; i++) await login('10.0.0.1', VIEWER.user, `wrong-${i}`).expect(401);
    const refused = await login('10.0.0.1', VIEWER.user, VIEWER.password).expect(429);
    assert.equal(bodyOf(refused).error.code, 'rate_limited');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${refused.headers['retry-after']}`);
    await login('10.0.0.2', VIEWER.user, VIEWER.password).expect(200);
    // The counter is a Redis key that expires with its window: nothing accumulates.
    const ttl = await fixture.redis.pttl(fixture.keys.loginFailures('ip', '10.0.0.1'));
    assert.ok(ttl > 0 && ttl <= 60_000, `ttl ${ttl}`);

    const failed = lines.filter((line) => line.msg === 'dashboard login failed');
    assert.equal(failed.length, 3, 'each failure is logged');
    assert.deepEqual(failed[2], {
      level: 'warn',
      msg: 'dashboard login failed',
      fields: { ip: '10.0.0.1', user: VIEWER.user, failuresFromIp: 3, failuresForUser: 3 },
    });
    assert.ok(lines.some((line) => line.msg === 'dashboard logins throttled' && line.fields?.ip === '10.0.0.1'));
    assert.ok(!JSON.stringify(lines).includes('wrong-'), 'a password was logged');
  });

  it('never refuses the right password from a clean address, however often a name was guessed elsewhere', async () => {
    // 20 strangers, each under its own address limit, push the admin's name far past LOGIN_FAILURES_PER_USER.
    for (let i = 0; i < 20; i++) await login(`10.0.1.${i}`, ADMIN.user, 'guess').expect(401);
    await login('10.0.1.99', ADMIN.user, ADMIN.password).expect(200);
    await login('10.0.1.98', VIEWER.user, VIEWER.password).expect(200);
  });

  it('keeps guessing slow: past LOGIN_FAILURES_PER_USER, an address that failed the name twice is refused for it', async () => {
    for (let i = 0; i < 5; i++) await login(`10.0.3.${i}`, ADMIN.user, 'guess').expect(401);
    // The name is under attack: a new address gets two tries for it, then 429 for that name only.
    await login('10.0.3.50', ADMIN.user, 'guess-a').expect(401);
    await login('10.0.3.50', ADMIN.user, 'guess-b').expect(401);
    const refused = await login('10.0.3.50', ADMIN.user, ADMIN.password).expect(429);
    assert.equal(bodyOf(refused).error.code, 'rate_limited');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    await login('10.0.3.50', VIEWER.user, VIEWER.password).expect(200);
    // The operator's one typo under attack does not lock them out.
    await login('10.0.3.51', ADMIN.user, 'typo').expect(401);
    await login('10.0.3.51', ADMIN.user, ADMIN.password).expect(200);
  });

  it('does not count a request without credentials (a browser asks for them first)', async () => {
    for (let i = 0; i < 5; i++) await request(fixture.app).get('/sale').set('X-Forwarded-For', '10.0.2.1').expect(401);
    await login('10.0.2.1', VIEWER.user, VIEWER.password).expect(200);
  });
});
