import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { listen, type Listening } from '@flashline/core';
import { sumOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request over a raw connection. `absolute`: the request target in absolute form
 * (`http://host/orders`), which the front door leaves to Express (http/door.ts) while Express routes it
 * as the origin form: the same request through the app's own router, to compare the door's answers with.
 */
function send(
  port: number,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; absolute?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path: options.absolute ? `http://127.0.0.1:${port}${path}` : path,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An answer with what differs between two runs of the same requests (order ids, times, tags) made equal. */
function comparable(reply: Reply): Reply {
  const ids = /[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}/g; // order ids: <productId>.<16 characters>
  const headers = { ...reply.headers };
  delete headers.date;
  if (headers.etag !== undefined) headers.etag = '<tag>';
  if (typeof headers.location === 'string') headers.location = headers.location.replace(ids, '<id>');
  const times = /\d{4}-\d\d-\d\dT[\d:.]+Z/g;
  return { status: reply.status, headers, body: reply.body.replace(ids, '<id>').replace(times, '<time>') };
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const order = (productId: string, userId: string, quantity = 1) => JSON.stringify({ productId, userId, quantity });

describe('the front door: hot routes dispatched ahead of the router keep every middleware effect', () => {
  const ctx = useApis();
  // Every request Express's app.handle (the router's way in) was given: its method and request target.
  const throughExpress: string[] = [];
  // Express's application prototype: its `handle` is what an app calls with each request (not in its types).
  const application = express.application as unknown as { handle: (this: unknown, ...args: unknown[]) => unknown };
  const original = application.handle;
  const servers: Listening[] = [];
  let door: ApiUnderTest;
  let plain: ApiUnderTest;
  let doorPort: number;
  let plainPort: number;

  before(async () => {
    // Patched before the apps are made: express() copies the application's methods onto each app.
    application.handle = function (this: unknown, ...args: unknown[]) {
      const req = args[0] as { method?: string; url?: string };
      throughExpress.push(`${req.method} ${req.url}`);
      return original.apply(this, args);
    };
    // The per-address limit on and low: the 13th request from this address in a minute is refused.
    const env = { RATE_LIMIT_PER_IP: '12', RATE_LIMIT_WINDOW_MS: '60000', RATE_LIMIT_PER_USER: '5' };
    try {
      door = await ctx.api('door', env);
      plain = await ctx.api('plain', env);
    } finally {
      application.handle = original;
    }
    for (const api of [door, plain]) servers.push(await listen(api.app, 0, '127.0.0.1', api.config.http));
    [doorPort, plainPort] = servers.map((s) => s.port) as [number, number];
  });
  after(async () => {
    for (const server of servers) await server.close();
  });

  it('answers each hot request as Express answers it (headers, limits, errors, metrics), without the router', async () => {
    // The same requests to both: origin form to the door's API, absolute form (Express's router) to the other.
    // `path` may differ between the two (each API's own order id); what is compared is the answer.
    const ids = { door: '', plain: '' };
    const both = async (
      method: string,
      path: string | ((api: keyof typeof ids) => string),
      options: { body?: string; headers?: Record<string, string> },
    ) => {
      const pathOf = (api: keyof typeof ids) => (typeof path === 'string' ? path : path(api));
      const viaDoor = await send(doorPort, method, pathOf('door'), options);
      const viaExpress = await send(plainPort, method, pathOf('plain'), { ...options, absolute: true });
      assert.deepEqual(
        comparable(viaDoor),
        comparable(viaExpress),
        `${method} ${pathOf('door')} ${options.body ?? ''}`,
      );
      return { viaDoor, viaExpress };
    };
    for (const [id, stock] of [
      ['tv', 5],
      ['gone', 0],
    ] as const) {
      await both('PUT', `/products/${id}`, { body: JSON.stringify({ stock }), headers: admin });
    }
    const placed = await both('POST', '/orders', { body: order('tv', 'ann') });
    const accepted = placed.viaDoor;
    assert.equal(accepted.status, 202);
    ids.door = (JSON.parse(placed.viaDoor.body) as { orderId: string }).orderId;
    ids.plain = (JSON.parse(placed.viaExpress.body) as { orderId: string }).orderId;
    const anOrder = (api: keyof typeof ids) => `/orders/${ids[api]}`;
    assert.equal((await both('POST', '/orders', { body: order('gone', 'bob') })).viaDoor.status, 409); // Redis says so
    assert.equal((await both('POST', '/orders', { body: order('gone', 'cat') })).viaDoor.status, 409); // the memory says so
    assert.equal((await both('POST', '/orders', { body: order('tv', 'ann', 0) })).viaDoor.status, 400);
    assert.equal((await both('POST', '/orders', { body: '{"productId":' })).viaDoor.status, 400);
    assert.equal(
      (await both('POST', '/orders', { body: order('tv', 'dan'), headers: { 'content-type': 'text/plain' } })).viaDoor
        .status,
      415,
    );
    assert.equal((await both('GET', anOrder, {})).viaDoor.status, 200);
    assert.equal((await both('GET', '/orders/nope', {})).viaDoor.status, 404);
    assert.equal((await both('GET', '/products/tv', {})).viaDoor.status, 200);
    // The admin's two PUTs above are not counted (the shop's own backend is never limited): two more reads.
    assert.equal((await both('GET', '/products/tv', {})).viaDoor.status, 200);
    assert.equal((await both('GET', '/products/tv', {})).viaDoor.status, 200);
    // The 13th request from this address: refused by the per-address limit, before the route.
    const limited = (await both('GET', '/products/none', {})).viaDoor;
    assert.equal(limited.status, 404);
    const refused = (await both('GET', '/orders/nope', {})).viaDoor;
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'] !== undefined, true);
    assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'rate_limited');
    const refusedOrder = await send(doorPort, 'POST', '/orders', { body: order('tv', 'eve') });
    assert.equal(refusedOrder.status, 429, 'POST /orders is under the per-address limit too');

    // A security header on every answer: the door's hot answers carry what a route Express serves does.
    const health = await send(doorPort, 'GET', '/healthz');
    for (const name of ['content-security-policy', 'x-content-type-options', 'strict-transport-security']) {
      assert.equal(typeof health.headers[name], 'string', name);
      assert.equal(accepted.headers[name], health.headers[name], `${name} on the 202`);
      assert.equal(refusedOrder.headers[name], health.headers[name], `${name} on the 429`);
    }

    // None of the hot requests above went through Express's router on the door's API; the other API's all did.
    assert.deepEqual(
      throughExpress.filter((target) => /^(POST \/orders|GET \/orders\/|GET \/products\/)/.test(target)),
      [],
    );
    assert.ok(throughExpress.filter((target) => / http:\/\//.test(target)).length >= 12);

    // Counted alike: requests by route and status, orders accepted and refused by code.
    const scrape = async (port: number) => (await send(port, 'GET', '/metrics')).body;
    const [doorMetrics, plainMetrics] = [await scrape(doorPort), await scrape(plainPort)];
    for (const labels of [
      { route: '/orders', method: 'POST', status: '202' },
      { route: '/orders', method: 'POST', status: '409' },
      { route: '/orders', method: 'POST', status: '400' },
      { route: '/orders/:orderId', method: 'GET', status: '404' },
      { route: '/products/:productId', method: 'GET', status: '200' },
      { route: 'unmatched', method: 'GET', status: '429' },
    ]) {
      const counted = sumOf(doorMetrics, 'flashline_http_requests_total', labels);
      assert.ok(counted > 0, `counted ${JSON.stringify(labels)}`);
      assert.equal(counted, sumOf(plainMetrics, 'flashline_http_requests_total', labels), JSON.stringify(labels));
    }
    assert.equal(sumOf(doorMetrics, 'flashline_orders_accepted_total', {}), 1);
    assert.equal(sumOf(doorMetrics, 'flashline_orders_refused_total', { code: 'rate_limited' }), 1);
    assert.equal(
      sumOf(doorMetrics, 'flashline_orders_refused_total', { code: 'sold_out' }),
      sumOf(plainMetrics, 'flashline_orders_refused_total', { code: 'sold_out' }),
    );

    // The 503 gate: with the order store gone, each hot route answers 503 unavailable with Retry-After.
    door.redis.disconnect();
    plain.redis.disconnect();
    // The connection's status turns when its socket has closed, a moment later.
    while (door.redis.status !== 'end' || plain.redis.status !== 'end') await sleep(5);
    for (const [method, path, body] of [
      ['POST', '/orders', order('tv', 'fay')],
      ['GET', anOrder, undefined],
      ['GET', '/products/tv', undefined],
    ] as const) {
      const down = (await both(method, path, body === undefined ? {} : { body })).viaDoor;
      assert.equal(down.status, 503, `${method} ${typeof path === 'string' ? path : path('door')}`);
      assert.equal(down.headers['retry-after'], '1');
      assert.equal((JSON.parse(down.body) as { error: { code: string } }).error.code, 'unavailable');
    }
  });
});
