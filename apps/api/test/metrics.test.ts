import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { samplesOf, sumOf, typeOf, bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const METRICS_TOKEN = 'metrics-token-0123456789';

describe('API metrics', () => {
  const { api } = useApis();

  it('counts requests by route pattern and status, and orders accepted and refused by code', async () => {
    const { app } = await api('m1');
    await request(app).put('/products/tv').set(admin).send({ stock: 3 }).expect(200);
    await request(app).put('/products/gone').set(admin).send({ stock: 0 }).expect(200);
    const accepted: string[] = [];
    for (const userId of ['a', 'b', 'c', 'd']) {
      accepted.push(
        bodyOf(await request(app).post('/orders').send({ productId: 'tv', userId, quantity: 1 }).expect(202)).orderId,
      );
    }
    // The second sold_out comes from the sold-out memory, without Redis: counted all the same.
    await request(app).post('/orders').send({ productId: 'gone', userId: 'a', quantity: 1 }).expect(409);
    await request(app).post('/orders').send({ productId: 'gone', userId: 'b', quantity: 1 }).expect(409);
    await request(app).post('/orders').send({ productId: 'tv', userId: 'a', quantity: 0 }).expect(400);
    await request(app).post('/orders').send({ productId: 'nope', userId: 'a', quantity: 1 }).expect(404);
    await request(app).get(`/orders/${accepted[0]}`).expect(200);
    await request(app).get(`/orders/${accepted[1]}`).expect(200);
    await request(app).get('/orders/tv.doesnotexist').expect(404);
    await request(app).get('/no/such/path').expect(404);

    const scrape = await request(app).get('/metrics').expect(200);
    assert.equal(scrape.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const text = scrape.text;
    assert.equal(sumOf(text, 'flashline_orders_accepted_total'), 4);
    assert.equal(sumOf(text, 'flashline_orders_refused_total', { code: 'sold_out' }), 2);
    assert.equal(sumOf(text, 'flashline_orders_refused_total', { code: 'invalid_request' }), 1);
    assert.equal(sumOf(text, 'flashline_orders_refused_total', { code: 'unknown_product' }), 1);
    assert.equal(sumOf(text, 'flashline_orders_refused_total'), 4, 'a refusal was counted outside POST /orders');

    const requests = (labels: Record<string, string>) => sumOf(text, 'flashline_http_requests_total', labels);
    assert.equal(requests({ route: '/orders', method: 'POST', status: '202' }), 4);
    assert.equal(requests({ route: '/orders', method: 'POST', status: '409' }), 2);
    assert.equal(requests({ route: '/orders/:orderId', method: 'GET', status: '200' }), 2);
    assert.equal(requests({ route: '/orders/:orderId', method: 'GET', status: '404' }), 1);
    assert.equal(requests({ route: '/products/:productId', method: 'PUT', status: '200' }), 2);
    assert.equal(requests({ route: 'unmatched', method: 'GET', status: '404' }), 1);
    assert.equal(requests({}), 14, 'every request before the scrape is counted once');
    assert.equal(sumOf(text, 'flashline_http_request_duration_seconds_count', { route: '/orders', method: 'POST' }), 8);
    assert.equal(typeOf(text, 'flashline_http_request_duration_seconds'), 'histogram');
    // Cardinality: no raw path or id ever becomes a label value.
    for (const raw of [accepted[0]!, 'tv.doesnotexist', '/no/such/path', '/products/tv'])
      assert.ok(!text.includes(raw), `${raw} is in a label`);

    // The scrape itself is counted by the next one.
    const again = (await request(app).get('/metrics').expect(200)).text;
    assert.equal(sumOf(again, 'flashline_http_requests_total', { route: '/metrics', status: '200' }), 1);
  });

  it('keeps each app its own registry', async () => {
    const { app } = await api('m2');
    const text = (await request(app).get('/metrics').expect(200)).text;
    assert.equal(sumOf(text, 'flashline_orders_accepted_total'), 0);
    assert.equal(samplesOf(text, 'flashline_http_requests_total').length, 0);
  });

  it('counts a per-IP 429 as a refused order on an unmatched route, and never limits or guards /metrics without a token', async () => {
    const { app } = await api('m3', { RATE_LIMIT_PER_IP: '1', RATE_LIMIT_WINDOW_MS: '60000' });
    await request(app).post('/orders').send({ productId: 'tv', userId: 'a', quantity: 1 }).expect(404); // the IP's one request
    await request(app).post('/orders').send({ productId: 'tv', userId: 'a', quantity: 1 }).expect(429);
    await request(app).get('/metrics').expect(200);
    const text = (await request(app).get('/metrics').expect(200)).text;
    assert.equal(sumOf(text, 'flashline_orders_refused_total', { code: 'rate_limited' }), 1);
    assert.equal(
      sumOf(text, 'flashline_http_requests_total', { route: 'unmatched', method: 'POST', status: '429' }),
      1,
    );
  });

  it('asks for METRICS_TOKEN when it is set', async () => {
    const { app } = await api('m4', { METRICS_TOKEN });
    const refused = await request(app).get('/metrics').expect(401);
    assert.equal(bodyOf(refused).error.code, 'unauthorized');
    assert.match(refused.headers['www-authenticate'] ?? '', /^Bearer/);
    await request(app).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}x`).expect(401);
    const allowed = await request(app).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}`).expect(200);
    assert.equal(sumOf(allowed.text, 'flashline_http_requests_total', { route: '/metrics', status: '401' }), 2);
  });

  it('answers /metrics with NODE_ENV=production only to METRICS_TOKEN, and 401 to everyone when none is set', async () => {
    const unset = await api('m5', { NODE_ENV: 'production' });
    const refused = await request(unset.app).get('/metrics').expect(401);
    assert.equal(bodyOf(refused).error.code, 'unauthorized');
    assert.match(bodyOf(refused).error.message, /METRICS_TOKEN/);
    await request(unset.app).get('/metrics').set(admin).expect(401);
    // The rest of the API is served as ever.
    await request(unset.app).get('/healthz').expect(200);
    const set = await api('m6', { NODE_ENV: 'production', METRICS_TOKEN });
    await request(set.app).get('/metrics').expect(401);
    await request(set.app).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}`).expect(200);
  });
});
