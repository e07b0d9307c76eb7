import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis, loadConfig, partitionQueue, waitUntilReady } from '@flashline/core';
import {
  requestJson,
  snapshotCluster,
  snapshotDiff,
  startApp,
  useRedisCluster,
  type AppProcess,
  type ClusterSnapshot,
  type JsonReply,
} from '@flashline/test-utils';
import { ADMIN_TOKEN } from './harness.ts';
import { BAD_ORDERS, VALID_ORDER } from './badInput.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** A raw request: the body as given (not JSON-encoded), any headers. */
async function send(
  url: string,
  init: { method?: string; body?: string | Buffer; headers?: Record<string, string> },
): Promise<JsonReply> {
  const res = await fetch(url, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as JsonReply['body'], headers: res.headers };
}

/**
 * The API processes (apps/api/src/main.ts, as deployed) on a real Redis Cluster of 3 masters and 3
 * replicas, with 4 queue partitions: hostile input changes nothing anywhere in the cluster.
 */
describe('the API on a real Redis Cluster', () => {
  const processes: AppProcess[] = [];
  const ctx = useRedisCluster({
    beforeStop: async () => {
      await Promise.all(processes.map((app) => app.stop()));
    },
  });
  /** The base URL of a process refusing hostile input. */
  let hostile: string;

  const startApi = async (env: Record<string, string>): Promise<string> => {
    const app = startApp('apps/api/src/main.ts', {
      REDIS_CLUSTER_NODES: ctx.cluster.seedNodes,
      QUEUE_PARTITIONS: '4',
      ADMIN_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
      SOLD_OUT_MEMORY_MS: '0',
      ...env,
    });
    processes.push(app);
    const listening = await app.waitForLog(/^api listening$/);
    await untilQueuesInitialized(env.KEY_PREFIX!);
    return String(listening.url);
  };

  /**
   * Each BullMQ Queue writes its meta hash (version, events cap) once connected, in the background:
   * the process may listen before every partition's write lands, and a snapshot taken meanwhile
   * would see it as a change.
   */
  const untilQueuesInitialized = async (keyPrefix: string) => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: ctx.cluster.seedNodes,
      KEY_PREFIX: keyPrefix,
      QUEUE_PARTITIONS: '4',
    });
    const redis = connectRedis(config, 'worker');
    try {
      await waitUntilReady(redis, 5000);
      const metas = Array.from({ length: 4 }, (_, p) => {
        const { name, prefix } = partitionQueue(config, p);
        return `${prefix}:${name}:meta`;
      });
      for (let i = 0; i < 100; i++) {
        const versions = await Promise.all(metas.map((key) => redis.hget(key, 'version')));
        if (versions.every((version) => version !== null)) return;
        await sleep(50);
      }
      assert.fail(`the partitions' meta was not written: ${metas.join(', ')}`);
    } finally {
      redis.disconnect();
    }
  };

  before(async () => {
    // Only accepted orders spend the per-user limit (1 here): a refusal must not count either.
    hostile = await startApi({
      KEY_PREFIX: 'bad',
      RATE_LIMIT_PER_IP: '0',
      RATE_LIMIT_PER_USER: '1',
      RATE_LIMIT_WINDOW_MS: '600000',
    });
  });

  describe('hostile input', () => {
    let accepted: string;

    before(async () => {
      for (const [productId, stock] of [
        ['tv', 100],
        ['gone', 0],
        ['few', 2],
      ] as const) {
        const put = await requestJson(`${hostile}/products/${productId}`, {
          method: 'PUT',
          body: { stock },
          headers: admin,
        });
        assert.equal(put.status, 200, JSON.stringify(put.body));
      }
      // alice has spent her per-user limit (1) and bound a key: the refusals below must touch neither.
      const order = await requestJson(`${hostile}/orders`, {
        method: 'POST',
        body: { productId: 'tv', userId: 'alice', quantity: 1 },
        headers: { 'idempotency-key': 'alice-cart-1' },
      });
      assert.equal(order.status, 202, JSON.stringify(order.body));
      accepted = order.body.orderId;
    });

    /** Sends one request, checks a 4xx with its code (and a message naming `mentions`), and that no key in the cluster changed. */
    async function refused(
      what: string,
      call: () => Promise<JsonReply>,
      expected: { status: number; code: string; mentions?: string },
    ): Promise<void> {
      const before: ClusterSnapshot = await snapshotCluster(ctx.cluster);
      const reply = await call();
      assert.equal(reply.status, expected.status, `${what}: ${JSON.stringify(reply.body)}`);
      assert.match(reply.headers.get('content-type') ?? '', /^application\/json/, what);
      assert.equal(reply.body.error?.code, expected.code, what);
      assert.equal(typeof reply.body.error.message, 'string', what);
      if (expected.mentions)
        assert.ok(reply.body.error.message.includes(expected.mentions), `${what}: ${reply.body.error.message}`);
      const after = await snapshotCluster(ctx.cluster);
      assert.deepEqual(after, before, `${what} changed the cluster:\n${snapshotDiff(before, after)}`);
    }

    it('refuses every bad order body with its 4xx and code, and no key changes on any master', async () => {
      for (const [name, body, contentType, status, code, mentions] of BAD_ORDERS) {
        await refused(name, () => send(`${hostile}/orders`, { body, headers: { 'content-type': contentType } }), {
          status,
          code,
          mentions,
        });
      }
      const valid = JSON.stringify({ ...VALID_ORDER, userId: 'bob' });
      const posts: [string, string | Buffer, Record<string, string>, number, string][] = [
        ['a body that is not gzip, sent as gzip', valid, { 'content-encoding': 'gzip' }, 400, 'invalid_request'],
        ['an unknown content encoding', valid, { 'content-encoding': 'x-zip' }, 415, 'unsupported_media_type'],
        [
          'a gzip bomb past 4 kB',
          gzipSync(' '.repeat(100_000) + valid),
          { 'content-encoding': 'gzip' },
          413,
          'payload_too_large',
        ],
        ['JSON nested 2,000 deep', '['.repeat(2000) + ']'.repeat(2000), {}, 400, 'invalid_request'],
        ['latin-1 JSON', valid, { 'content-type': 'application/json; charset=latin1' }, 415, 'unsupported_media_type'],
      ];
      for (const [name, body, headers, status, code] of posts) {
        await refused(
          name,
          () => send(`${hostile}/orders`, { body, headers: { 'content-type': 'application/json', ...headers } }),
          { status, code },
        );
      }
    });

    it('refuses bad Idempotency-Keys, unknown and sold-out products, a reused key and a spent buyer, writing nothing', async () => {
      const order = (body: object, key?: string) => () =>
        requestJson(`${hostile}/orders`, {
          method: 'POST',
          body,
          ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }),
        });
      const bob = { productId: 'tv', userId: 'bob', quantity: 1 };
      for (const key of ['has space', 'x'.repeat(256), 'tab\there', 'caf\u00e9'])
        await refused(`Idempotency-Key ${JSON.stringify(key.slice(0, 20))}`, order(bob, key), {
          status: 400,
          code: 'invalid_request',
          mentions: 'Idempotency-Key',
        });
      // The cluster accepts in steps (stock read, buyers' step, products' step, give-back): a refused
      // request must leave no key bound and no count spent in any of the slots it touched.
      await refused('an unknown product, keyed', order({ ...bob, productId: 'nope' }, 'bob-1'), {
        status: 404,
        code: 'unknown_product',
      });
      await refused('a sold-out product, keyed', order({ ...bob, productId: 'gone' }, 'bob-2'), {
        status: 409,
        code: 'sold_out',
      });
      await refused('more than the stock left, keyed', order({ ...bob, quantity: 3, productId: 'few' }, 'bob-3'), {
        status: 409,
        code: 'sold_out',
      });
      await refused('a key reused with another body', order({ ...bob, userId: 'alice', quantity: 2 }, 'alice-cart-1'), {
        status: 422,
        code: 'idempotency_key_reused',
      });
      await refused('a buyer past RATE_LIMIT_PER_USER', order({ ...bob, userId: 'alice' }), {
        status: 429,
        code: 'rate_limited',
      });
      await refused('a buyer past RATE_LIMIT_PER_USER, keyed', order({ ...bob, userId: 'alice' }, 'alice-cart-2'), {
        status: 429,
        code: 'rate_limited',
      });
      // Her retry finds her order whatever her limit, and writes nothing either.
      const retry = await order({ ...bob, userId: 'alice' }, 'alice-cart-1')();
      assert.equal(retry.status, 202, JSON.stringify(retry.body));
      assert.equal(retry.body.orderId, accepted);
    });

    it('refuses bad ids, bad product updates and a missing admin token on the other routes, writing nothing', async () => {
      const get = (path: string) => () => send(`${hostile}${path}`, { method: 'GET' });
      await refused('GET a malformed order id', get('/orders/a%3Ab'), { status: 400, code: 'invalid_request' });
      await refused('GET an unknown order', get(`/orders/tv.AAAAAAAAAAAAAAAA`), { status: 404, code: 'not_found' });
      await refused('GET a product id with {}', get('/products/%7Bg%3A1%7D'), { status: 400, code: 'invalid_request' });
      const put =
        (path: string, body: unknown, headers: Record<string, string> = admin) =>
        () =>
          requestJson(`${hostile}${path}`, { method: 'PUT', body, headers });
      for (const body of [{ stock: -1 }, { stock: 1.5 }, { stock: '5' }, {}, { stock: 1, perUserLimit: 0 }])
        await refused(`PUT ${JSON.stringify(body)}`, put('/products/newone', body), {
          status: 400,
          code: 'invalid_request',
        });
      await refused('PUT a product id with :', put('/products/bad:id', { stock: 1 }), {
        status: 400,
        code: 'invalid_request',
      });
      await refused('PUT without the admin token', put('/products/tv', { stock: 1 }, {}), {
        status: 401,
        code: 'unauthorized',
      });
      await refused(
        'PUT with a stale If-Match',
        put('/products/tv', { stock: 1 }, { ...admin, 'if-match': '"1.0.null"' }),
        {
          status: 412,
          code: 'precondition_failed',
        },
      );
      const stock = (productId: string, body: unknown) => () =>
        requestJson(`${hostile}/products/${productId}/stock`, { method: 'POST', body, headers: admin });
      await refused('a stock delta of 0', stock('tv', { delta: 0 }), { status: 400, code: 'invalid_request' });
      await refused('a stock delta past the stock', stock('tv', { delta: -1000 }), {
        status: 409,
        code: 'insufficient_stock',
      });
      await refused('a stock delta for an unknown product', stock('nope', { delta: 5 }), {
        status: 404,
        code: 'not_found',
      });
    });

    it('sees a change anywhere in the cluster (the check above can fail)', async () => {
      const before = await snapshotCluster(ctx.cluster);
      assert.ok(before.dbsize > 0 && Object.keys(before.keys).length === before.dbsize);
      const order = await requestJson(`${hostile}/orders`, {
        method: 'POST',
        body: { productId: 'tv', userId: 'carol', quantity: 1 },
      });
      assert.equal(order.status, 202);
      const diff = snapshotDiff(before, await snapshotCluster(ctx.cluster));
      // The order in its product's group slot, the job in its partition's, the buyer's count in hers.
      assert.match(diff, /\+ bad:\{g:\d+\}:p:tv:order:/);
      assert.match(diff, /bad:\{queue(:\d)?\}:orders(-\d)?:/);
      assert.match(diff, /\+ bad:\{u:\d+\}:b:rl:user:/);
    });
  });
});
