import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis, loadConfig, partitionQueue, waitUntilReady } from '@flashline/core';
import {
  mapConcurrent,
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
/** The per-address and per-user limits of the two limited processes (docs/http.md#rate-limits). */
const PER_IP = 256;
const PER_USER = 3;
/** docs/http.md: a busy address is refused early "by at most 1/16 of the limit per API process" (written out, not core's LEASE_SHARE). */
const DOCUMENTED_LEASE_SHARE = 16;

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
 * replicas, with 4 queue partitions: hostile input changes nothing anywhere in the cluster, and the
 * rate limits and idempotency hold across two API processes as docs/http.md says.
 */
describe('the API on a real Redis Cluster', () => {
  const processes: AppProcess[] = [];
  const ctx = useRedisCluster({
    beforeStop: async () => {
      await Promise.all(processes.map((app) => app.stop()));
    },
  });
  /** The base URL of a process refusing hostile input, and of the two limited ones sharing a key prefix. */
  let hostile: string;
  let one: string;
  let two: string;

  const startApi = async (env: Record<string, string>): Promise<string> => {
    const app = startApp('apps/api/src/main.ts', {
      REDIS_CLUSTER_NODES: ctx.cluster.seedNodes,
      QUEUE_PARTITIONS: '4',
      ADMIN_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
      // No door counts written every second: the hostile checks compare snapshots of the whole cluster.
      DOOR_PUBLISH_MS: '0',
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
    const limited = {
      KEY_PREFIX: 'lim',
      SOLD_OUT_MEMORY_MS: '0',
      RATE_LIMIT_PER_IP: String(PER_IP),
      RATE_LIMIT_PER_USER: String(PER_USER),
      RATE_LIMIT_WINDOW_MS: '60000',
      // Each test sends as its own client addresses (X-Forwarded-For), so its per-address counts start at zero.
      TRUST_PROXY: 'loopback',
    };
    [hostile, one, two] = await Promise.all([
      // Only accepted orders spend the per-user limit (1 here): a refusal must not count either.
      startApi({
        KEY_PREFIX: 'bad',
        RATE_LIMIT_PER_IP: '0',
        RATE_LIMIT_PER_USER: '1',
        RATE_LIMIT_WINDOW_MS: '600000',
        SOLD_OUT_MEMORY_MS: '300',
      }),
      startApi(limited),
      startApi(limited),
    ]);
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

    /**
     * A keyed retry of an order still queued enqueues it again under its own id (design.md: it is decided
     * once, whichever job runs first): BullMQ counts the add and logs it a duplicate in the partition's
     * events. Nothing else may change: no order, job, key or count.
     */
    const assertOnlyReenqueued = (before: ClusterSnapshot, after: ClusterSnapshot) => {
      const changes = snapshotDiff(before, after).split('\n').filter(Boolean);
      assert.ok(
        changes.every((change) => /^~ bad:\{queue(:\d+)?\}:orders(-\d+)?:(events|id)$/.test(change)),
        `a keyed retry changed more than its partition's bookkeeping:\n${changes.join('\n')}`,
      );
    };

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
      const before = await snapshotCluster(ctx.cluster);
      const retry = await order({ ...bob, userId: 'alice' }, 'alice-cart-1')();
      assert.equal(retry.status, 202, JSON.stringify(retry.body));
      assert.equal(retry.body.orderId, accepted);
      assertOnlyReenqueued(before, await snapshotCluster(ctx.cluster));
    });

    it('answers a product remembered sold out from memory, keyed requests included, writing nothing', async () => {
      const setStock = async (stock: number) =>
        assert.equal(
          (await requestJson(`${hostile}/products/tv`, { method: 'PUT', body: { stock }, headers: admin })).status,
          200,
        );
      await setStock(0);
      try {
        const order = (userId: string, key: string) => () =>
          requestJson(`${hostile}/orders`, {
            method: 'POST',
            body: { productId: 'tv', userId, quantity: 1 },
            headers: { 'idempotency-key': key },
          });
        // The first asks Redis and is remembered (SOLD_OUT_MEMORY_MS); the next keyed ones only read their
        // keys (one MGET per buyer slot) and are refused without a write.
        for (let i = 0; i < 3; i++)
          await refused(`sold out, keyed, ${i === 0 ? 'from Redis' : 'from memory'}`, order(`dora${i}`, `dora-${i}`), {
            status: 409,
            code: 'sold_out',
          });
        const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => order(`erik${i}`, `erik-${i}`)()));
        assert.deepEqual(
          burst.map((reply) => reply.status),
          Array.from({ length: 8 }, () => 409),
        );
        // alice's retry finds her order, though its product is sold out now, and writes nothing.
        const before = await snapshotCluster(ctx.cluster);
        const retry = await requestJson(`${hostile}/orders`, {
          method: 'POST',
          body: { productId: 'tv', userId: 'alice', quantity: 1 },
          headers: { 'idempotency-key': 'alice-cart-1' },
        });
        assert.equal(retry.status, 202, JSON.stringify(retry.body));
        assert.equal(retry.body.orderId, accepted);
        assertOnlyReenqueued(before, await snapshotCluster(ctx.cluster));
      } finally {
        await setStock(100);
        // Past SOLD_OUT_MEMORY_MS: the product is asked about again.
        await sleep(400);
      }
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

  describe('two API processes on one cluster', () => {
    /** Alternates the two processes: request i goes to `one` when i is even. */
    const apiFor = (i: number) => (i % 2 === 0 ? one : two);
    const from = (address: string) => ({ 'x-forwarded-for': address });
    /** Every order key of a product under the limited processes' prefix, on every master. */
    const ordersOf = async (productId: string) =>
      Object.keys((await snapshotCluster(ctx.cluster)).keys).filter((key) =>
        new RegExp(`^lim:\\{g:\\d+\\}:p:${productId}:order:`).test(key),
      );

    before(async () => {
      for (const productId of ['tv', 'phone']) {
        const put = await requestJson(`${one}/products/${productId}`, {
          method: 'PUT',
          body: { stock: 1000 },
          headers: { ...admin, ...from('198.51.100.1') },
        });
        assert.equal(put.status, 200, JSON.stringify(put.body));
      }
    });

    it(`lets one address through at most RATE_LIMIT_PER_IP (${PER_IP}) a window across both, refused early by at most 1/16 per process`, async (t) => {
      const replies = await mapConcurrent(
        Array.from({ length: 2 * PER_IP }, (_, i) => i),
        16,
        (i) => requestJson(`${apiFor(i)}/products/none`, { headers: from('203.0.113.7') }),
      );
      const passed = replies.filter((reply) => reply.status === 404);
      const limited = replies.filter((reply) => reply.status === 429);
      assert.equal(passed.length + limited.length, replies.length, JSON.stringify(replies.map((r) => r.status)));
      assert.ok(limited.every((reply) => reply.body.error.code === 'rate_limited' && reply.headers.get('retry-after')));
      // docs/http.md: never more than the limit across all processes; a lease's unspent units may refuse
      // the address early by at most limit/16 per API process (two here).
      const earliest = PER_IP - 2 * Math.floor(PER_IP / DOCUMENTED_LEASE_SHARE);
      assert.ok(
        passed.length <= PER_IP && passed.length >= earliest,
        `${passed.length} of ${replies.length} passed: the limit is ${PER_IP}, at least ${earliest}`,
      );
      t.diagnostic(`${passed.length} of ${replies.length} passed`);
      const passedBy = [one, two].map((url) => replies.filter((r, i) => r.status === 404 && apiFor(i) === url).length);
      assert.ok(
        passedBy.every((n) => n > 0),
        `each process let some through: ${passedBy.join(' + ')}`,
      );
      // Another address is counted on its own.
      assert.equal((await requestJson(`${two}/products/none`, { headers: from('203.0.113.8') })).status, 404);
    });

    it(`accepts exactly RATE_LIMIT_PER_USER (${PER_USER}) orders of one buyer a window across both processes`, async () => {
      const before = await ordersOf('tv');
      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          requestJson(`${apiFor(i)}/orders`, {
            method: 'POST',
            body: { productId: 'tv', userId: 'carol', quantity: 1 },
            // Half keyed, half not; each from an address of its own, so only the per-user limit applies.
            headers: { ...from(`192.0.2.${i + 1}`), ...(i % 4 < 2 ? { 'idempotency-key': `carol-${i}` } : {}) },
          }),
        ),
      );
      const accepted = replies.filter((reply) => reply.status === 202);
      const limited = replies.filter((reply) => reply.status === 429);
      assert.equal(accepted.length, PER_USER, JSON.stringify(replies.map((r) => r.status)));
      assert.equal(limited.length, replies.length - PER_USER, JSON.stringify(replies.map((r) => r.status)));
      assert.ok(limited.every((reply) => reply.body.error.code === 'rate_limited'));
      const stored = (await ordersOf('tv')).filter((key) => !before.includes(key));
      assert.equal(stored.length, PER_USER, 'one order stored per accepted request, none for a refused one');
      // Another buyer is counted on her own, on either process.
      const dan = await requestJson(`${two}/orders`, {
        method: 'POST',
        body: { productId: 'tv', userId: 'dan', quantity: 1 },
        headers: from('192.0.2.100'),
      });
      assert.equal(dan.status, 202, JSON.stringify(dan.body));
    });

    it('answers one Idempotency-Key sent to both processes with one order, and its retries spend no limit', async () => {
      const body = { productId: 'phone', userId: 'erin', quantity: 2 };
      const keyed = (i: number, payload: object = body) =>
        requestJson(`${apiFor(i)}/orders`, {
          method: 'POST',
          body: payload,
          headers: { ...from(`192.0.2.${200 + (i % 2)}`), 'idempotency-key': 'erin-cart-1' },
        });
      // At once on both, then again on each.
      const first = await Promise.all([0, 1, 2, 3].map((i) => keyed(i)));
      const again = await Promise.all([0, 1].map((i) => keyed(i)));
      const replies = [...first, ...again];
      assert.ok(
        replies.every((reply) => reply.status === 202),
        JSON.stringify(replies.map((r) => [r.status, r.body])),
      );
      const ids = new Set(replies.map((reply) => reply.body.orderId));
      assert.equal(ids.size, 1, `one order for one key: ${[...ids].join(', ')}`);
      assert.equal((await ordersOf('phone')).length, 1, 'one order stored');
      const [orderId] = ids;
      for (const url of [one, two]) {
        const order = await requestJson(`${url}/orders/${orderId}`, { headers: { ...admin, ...from('192.0.2.210') } });
        assert.equal(order.status, 200);
        assert.equal(order.body.userId, 'erin');
        assert.equal(order.body.quantity, 2);
      }
      // The same key with another body, on either process: 422, and no second order.
      for (const i of [0, 1]) {
        const reused = await keyed(i, { ...body, quantity: 1 });
        assert.equal(reused.status, 422, JSON.stringify(reused.body));
        assert.equal(reused.body.error.code, 'idempotency_key_reused');
      }
      // Six answers, one order counted: erin has PER_USER - 1 orders left in the window.
      const more = await Promise.all(
        Array.from({ length: PER_USER }, (_, i) =>
          requestJson(`${apiFor(i)}/orders`, {
            method: 'POST',
            body: { ...body, quantity: 1 },
            headers: from(`192.0.2.${220 + i}`),
          }),
        ),
      );
      assert.deepEqual(
        more.map((reply) => reply.status).sort(),
        [...Array.from({ length: PER_USER - 1 }, () => 202), 429],
        JSON.stringify(more.map((r) => r.body)),
      );
      assert.equal((await ordersOf('phone')).length, PER_USER);
    });
  });
});
