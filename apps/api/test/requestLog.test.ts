import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { createLogger, type LogLevel } from '@flashline/core';
import { useRedisServer, type TestRedis } from '@flashline/test-utils';
import { ADMIN_TOKEN, apiOn } from './harness.ts';

/** The API at a LOG_LEVEL, with a real logger (at `loggerLevel`) whose lines the test keeps. */
async function apiLoggingAt(server: TestRedis, level: LogLevel, loggerLevel = level) {
  const lines: Record<string, unknown>[] = [];
  const keep = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  const log = createLogger('api', loggerLevel, { out: keep, err: keep });
  const api = await apiOn(server, `reqlog-${level}`, { LOG_LEVEL: level }, log);
  return { api, lines };
}

describe('the request log', () => {
  const ctx = useRedisServer();

  it('writes one debug line per request at LOG_LEVEL=debug, without its headers', async () => {
    const { api, lines } = await apiLoggingAt(ctx.server, 'debug');
    try {
      await request(api.app).put('/products/tv').set('authorization', `Bearer ${ADMIN_TOKEN}`).send({ stock: 1 });
      await request(api.app).get('/products/none').expect(404);
      const requests = lines.filter((line) => line.req !== undefined);
      assert.equal(requests.length, 2, JSON.stringify(lines));
      const [put, get] = requests;
      assert.deepEqual(
        { level: put?.level, service: put?.service, msg: put?.msg, method: (put?.req as { method: string }).method },
        { level: 'debug', service: 'api', msg: 'request completed', method: 'PUT' },
      );
      assert.equal((get?.req as { url: string }).url, '/products/none');
      assert.deepEqual(get?.res, { statusCode: 404 });
      assert.equal(typeof get?.responseTime, 'number');
      assert.doesNotMatch(JSON.stringify(lines), new RegExp(ADMIN_TOKEN), 'the admin token was logged');
    } finally {
      await api.close();
    }
  });

  it('is not there at LOG_LEVEL=info', async () => {
    // A logger that would write debug lines: only the middleware's absence keeps them out.
    const { api, lines } = await apiLoggingAt(ctx.server, 'info', 'debug');
    try {
      await request(api.app).get('/products/none').expect(404);
      await request(api.app).get('/healthz').expect(200);
      assert.deepEqual(lines, []);
    } finally {
      await api.close();
    }
  });
});
