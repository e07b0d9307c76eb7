import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { SignJWT, exportSPKI, generateKeyPair, type CryptoKey, type KeyObject } from 'jose';
import request from 'supertest';
import { ordersOf } from '@flashline/core';
import { bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const SECRET = 'the-shops-buyer-token-secret-0123456789';
const ISSUER = 'https://shop.example';
const AUDIENCE = 'flashline';

type SigningKey = CryptoKey | KeyObject | Uint8Array;
interface Claims {
  sub?: string;
  iss?: string;
  aud?: string;
  /** Seconds from now; negative: already expired. Undefined: no exp claim. */
  expiresInS?: number | undefined;
  /** Seconds from now the token was issued (default 0: now); positive: in the future. Undefined: no iat claim. */
  issuedInS?: number | undefined;
}

/** A buyer token as the shop's login would sign it (defaults: valid for a minute, our issuer and audience). */
async function tokenOf(alg: string, key: SigningKey, claims: Claims = {}): Promise<string> {
  const { sub = 'alice', iss = ISSUER, aud = AUDIENCE } = claims;
  const expiresInS = 'expiresInS' in claims ? claims.expiresInS : 60;
  const jwt = new SignJWT({}).setProtectedHeader({ alg }).setSubject(sub).setIssuer(iss).setAudience(aud);
  const issuedInS = 'issuedInS' in claims ? claims.issuedInS : 0;
  if (expiresInS !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresInS);
  if (issuedInS !== undefined) jwt.setIssuedAt(Math.floor(Date.now() / 1000) + issuedInS);
  return jwt.sign(key);
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The buyer the enqueued job names for an order (a lone order's job has the order's id). */
async function buyerInJob(api: ApiUnderTest, orderId: string): Promise<string | undefined> {
  const job = await api.queue.getJob(orderId);
  return job ? ordersOf(job.data)[0]?.userId : undefined;
}

describe('signed buyer tokens', () => {
  const ctx = useApis();

  /** Every key under the API's prefix: a refused request must leave this as it was. */
  const keysOf = async (api: ApiUnderTest) => (await ctx.server.client.keys(`${api.keys.prefix}:*`)).sort();
  const orderKeysOf = (api: ApiUnderTest) => ctx.server.client.keys(api.keys.order('tv', '*'));

  async function withProduct(prefix: string, env: Record<string, string>): Promise<ApiUnderTest> {
    const api = await ctx.api(prefix, env);
    await request(api.app).put('/products/tv').set(admin).send({ stock: 100 }).expect(200);
    return api;
  }

  /** Each request is refused with `status`/`code`, and not a key in Redis is added or removed. */
  async function assertRefused(api: ApiUnderTest, status: number, code: string, sends: () => request.Test) {
    const before = await keysOf(api);
    const res = await sends();
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(bodyOf(res).error.code, code);
    assert.deepEqual(await keysOf(api), before, 'a refused request changed the keys in Redis');
  }

  describe('HS256 (BUYER_TOKEN_SECRET), with an issuer and an audience', () => {
    let api: ApiUnderTest;
    const key = new TextEncoder().encode(SECRET);
    const post = (headers: Record<string, string>, body: object = { productId: 'tv', quantity: 1 }) =>
      request(api.app).post('/orders').set(headers).send(body);

    before(async () => {
      api = await withProduct('hs', {
        BUYER_TOKEN_MAX_AGE_S: '3600',
        BUYER_TOKEN_SECRET: SECRET,
        BUYER_TOKEN_ISSUER: ISSUER,
        BUYER_TOKEN_AUDIENCE: AUDIENCE,
      });
    });

    it("accepts an order for the token's sub, with or without the same userId in the body", async () => {
      const token = await tokenOf('HS256', key, { sub: 'alice' });
      const without = await post(bearer(token)).expect(202);
      assert.equal(await buyerInJob(api, bodyOf(without).orderId), 'alice');
      const same = await post(bearer(token), { productId: 'tv', userId: 'alice', quantity: 1 }).expect(202);
      const stored = await request(api.app)
        .get(`/orders/${bodyOf(same).orderId}`)
        .set(admin)
        .expect(200);
      assert.equal(bodyOf(stored).userId, 'alice');
    });

    it('refuses a body naming another buyer with 403 forbidden, writing nothing', async () => {
      const token = await tokenOf('HS256', key, { sub: 'alice' });
      const ordersBefore = (await orderKeysOf(api)).length;
      await assertRefused(api, 403, 'forbidden', () =>
        post({ ...bearer(token), 'idempotency-key': 'bob-cart' }, { productId: 'tv', userId: 'bob', quantity: 1 }),
      );
      assert.equal((await orderKeysOf(api)).length, ordersBefore);
    });

    it('refuses a missing, expired, unsigned, mis-issued, mis-addressed or foreign-signed token with 401', async () => {
      const otherKey = new TextEncoder().encode('another-shops-secret-of-32-characters');
      const refusals: Record<string, Record<string, string>> = {
        'no Authorization': {},
        'not a bearer': { authorization: `Basic ${await tokenOf('HS256', key)}` },
        'not a JWT': bearer('not-a-jwt'),
        expired: bearer(await tokenOf('HS256', key, { expiresInS: -120 })),
        'no exp': bearer(await tokenOf('HS256', key, { expiresInS: undefined })),
        'no iat': bearer(await tokenOf('HS256', key, { issuedInS: undefined })),
        'iat a day ahead': bearer(await tokenOf('HS256', key, { issuedInS: 86_400, expiresInS: 90_000 })),
        'exp 100 years ahead': bearer(await tokenOf('HS256', key, { expiresInS: 100 * 365 * 86_400 })),
        'issued longer ago than BUYER_TOKEN_MAX_AGE_S': bearer(await tokenOf('HS256', key, { issuedInS: -3700 })),
        'wrong issuer': bearer(await tokenOf('HS256', key, { iss: 'https://evil.example' })),
        'wrong audience': bearer(await tokenOf('HS256', key, { aud: 'someone-else' })),
        'wrong key': bearer(await tokenOf('HS256', otherKey)),
        'sub not a user id': bearer(await tokenOf('HS256', key, { sub: 'a:b{c}' })),
        'alg none': bearer(`${b64({ alg: 'none' })}.${b64({ sub: 'alice', exp: 9e9, iss: ISSUER, aud: AUDIENCE })}.`),
        'the admin token': admin,
      };
      for (const [why, headers] of Object.entries(refusals)) {
        await assertRefused(api, 401, 'unauthorized', () =>
          post({ ...headers, 'idempotency-key': `key-${why.replace(/\W/g, '-')}` }),
        ).catch((error: unknown) => assert.fail(`${why}: ${String(error)}`));
      }
    });

    it('accepts a token issued a few seconds ahead of the clock (within the tolerance), refuses a lifetime past the max age', async () => {
      await post(bearer(await tokenOf('HS256', key, { issuedInS: 10 }))).expect(202);
      await post(bearer(await tokenOf('HS256', key, { issuedInS: -3000, expiresInS: 60 }))).expect(202);
      const long = await post(bearer(await tokenOf('HS256', key, { expiresInS: 3700 }))).expect(401);
      assert.match(bodyOf(long).error.message, /BUYER_TOKEN_MAX_AGE_S/);
    });

    it("shows an order to its buyer and the admin only: another buyer's is a 404, like one that does not exist", async () => {
      const alice = bearer(await tokenOf('HS256', key, { sub: 'alice' }));
      const orderId = bodyOf(await post(alice).expect(202)).orderId;
      const mine = await request(api.app).get(`/orders/${orderId}`).set(alice).expect(200);
      assert.equal(bodyOf(mine).userId, 'alice');
      assert.equal(bodyOf(await request(api.app).get(`/orders/${orderId}`).set(admin).expect(200)).userId, 'alice');

      const mallory = bearer(await tokenOf('HS256', key, { sub: 'mallory' }));
      const hidden = await request(api.app).get(`/orders/${orderId}`).set(mallory).expect(404);
      const absent = await request(api.app).get('/orders/tv.AAAAAAAAAAAAAAAA').set(mallory).expect(404);
      assert.equal(bodyOf(hidden).error.code, 'not_found');
      assert.deepEqual(
        bodyOf(hidden).error.message.replace(orderId, 'ID'),
        bodyOf(absent).error.message.replace('tv.AAAAAAAAAAAAAAAA', 'ID'),
        "another buyer's order must answer exactly as a missing one",
      );
      for (const headers of [{}, bearer(await tokenOf('HS256', key, { expiresInS: -120 }))]) {
        const res = await request(api.app).get(`/orders/${orderId}`).set(headers).expect(401);
        assert.equal(bodyOf(res).error.code, 'unauthorized');
      }
    });
  });

  describe('ES256 (BUYER_TOKEN_PUBLIC_KEY)', () => {
    let api: ApiUnderTest;
    let privateKey: CryptoKey;
    let publicPem: string;

    before(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      privateKey = pair.privateKey;
      publicPem = await exportSPKI(pair.publicKey);
      // Without issuer and audience settings: any (or no) iss and aud pass.
      api = await withProduct('es', { BUYER_TOKEN_PUBLIC_KEY: publicPem });
    });

    it("accepts a token the key's private half signed, the buyer being its sub", async () => {
      const token = await tokenOf('ES256', privateKey, { sub: 'carol' });
      const res = await request(api.app).post('/orders').set(bearer(token)).send({ productId: 'tv', quantity: 2 });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.deepEqual((await api.queue.getJob(bodyOf(res).orderId))?.data, {
        orderId: bodyOf(res).orderId,
        productId: 'tv',
        userId: 'carol',
        quantity: 2,
      });
      const seen = await request(api.app)
        .get(`/orders/${bodyOf(res).orderId}`)
        .set(bearer(token))
        .expect(200);
      assert.equal(bodyOf(seen).userId, 'carol');
    });

    it('refuses another key, an expired token, and an HS256 token "signed" with the public key', async () => {
      const stranger = await generateKeyPair('ES256');
      const refusals: Record<string, string> = {
        'another key': await tokenOf('ES256', stranger.privateKey),
        expired: await tokenOf('ES256', privateKey, { expiresInS: -120 }),
        // Algorithm confusion: the public key is public, so it must never serve as an HMAC secret.
        'HS256 with the public key': await tokenOf('HS256', new TextEncoder().encode(publicPem)),
      };
      for (const [why, token] of Object.entries(refusals)) {
        await assertRefused(api, 401, 'unauthorized', () =>
          request(api.app).post('/orders').set(bearer(token)).send({ productId: 'tv', userId: 'alice', quantity: 1 }),
        ).catch((error: unknown) => assert.fail(`${why}: ${String(error)}`));
      }
    });
  });

  it('verifies RS256 with an RSA public key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const api = await withProduct('rs', {
      BUYER_TOKEN_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    const token = await tokenOf('RS256', privateKey, { sub: 'dave' });
    const res = await request(api.app).post('/orders').set(bearer(token)).send({ productId: 'tv', quantity: 1 });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(await buyerInJob(api, bodyOf(res).orderId), 'dave');
  });
});

describe('without buyer tokens, GET /orders/:id hides the buyer from all but the admin', () => {
  const ctx = useApis();

  it('omits userId for anyone without the admin token, whatever bearer they send', async () => {
    const api = await ctx.api('anon');
    await request(api.app).put('/products/tv').set(admin).send({ stock: 10 }).expect(200);
    const res = await request(api.app).post('/orders').send({ productId: 'tv', userId: 'alice', quantity: 1 });
    const orderId = bodyOf(res).orderId;
    for (const headers of [{}, bearer('some-token'), bearer(`${ADMIN_TOKEN}x`)]) {
      const seen = await request(api.app).get(`/orders/${orderId}`).set(headers).expect(200);
      assert.equal('userId' in bodyOf(seen), false, `userId shown to ${JSON.stringify(headers)}`);
      assert.equal(bodyOf(seen).status, 'queued', 'the rest of the order is still shown');
    }
    assert.equal(bodyOf(await request(api.app).get(`/orders/${orderId}`).set(admin).expect(200)).userId, 'alice');
  });
});

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
