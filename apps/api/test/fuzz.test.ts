import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import request from 'supertest';
import { listen, type Listening } from '@flashline/core';
import { startRedis, type ApiBody, type TestRedis } from '@flashline/test-utils';
import { ADMIN_TOKEN, apiOn, type ApiUnderTest } from './harness.ts';

// Property-based fuzz of POST /orders: thousands of hostile bodies and headers, one fixed seed so a
// failure replays. Whatever arrives: never a 5xx, a JSON error body for every refusal (and Redis
// unchanged), a 202 only for a valid order whose job carries exactly that order.

const SEED = 20261122;
const RUNS = 3000;
const PRODUCTS = ['tv', 'phone-2', 'p_3'];
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const BODY_LIMIT = 4096;
const CODES = new Set([
  'invalid_request',
  'unknown_product',
  'sold_out',
  'payload_too_large',
  'unsupported_media_type',
  'idempotency_key_reused',
  'not_found',
]);

/** Content types the API must read as UTF-8 JSON (Node trims the header value). */
const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=UTF-8',
  'APPLICATION/JSON',
  'application/json; charset="utf-8"',
  'application/json; foo=bar',
  ' application/json ',
];
const OTHER_TYPES = [
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/vnd.api+json',
  'application/jsonx',
  'application/*',
  '*/*',
  'json',
  '',
  ';',
  'application/json; charset=latin1',
  'application/json; charset=utf-7',
  'application/json; charset=utf-16',
  'application/json; charset=nope',
  'application/json; charset=utf-16le',
  'application/json; charset=utf-32',
];
/** Degenerate JSON types: refusing and accepting are both fine, so long as what is accepted is a valid order. */
const ODD_TYPES = [
  'application/json; charset=',
  'application/json;;;',
  'application/json; charset=utf-8; charset=latin1',
  'application/json; charset=UTF8',
];

type Compression = 'gzip' | 'deflate' | 'br';
const compress: Record<Compression, (body: Buffer) => Buffer> = {
  gzip: gzipSync,
  deflate: deflateSync,
  br: brotliCompressSync,
};

/** How the payload travels: the Content-Encoding header, and whether the bytes really are so encoded. */
type Encoding = { header?: string; compressed?: Compression };

interface Case {
  /** The bytes the API reads once any Content-Encoding is undone. */
  payload: Buffer;
  contentType?: string;
  encoding: Encoding;
}

// ---- arbitraries ----------------------------------------------------------------------------

const nastyStrings = fc.constantFrom(
  '',
  ' ',
  ':',
  '*',
  '?',
  '{',
  '}',
  '{p:tv}',
  'tv:order:*',
  'tv}',
  '{tv',
  '[',
  'a b',
  'tv\r\nX-Injected: 1',
  '\r\n\r\n',
  '\u0000',
  'tv\u0000',
  'аdmin' /* Cyrillic а */,
  'ｔｖ',
  '😀',
  'tv\u202e',
  '\u200b',
  '\ud800',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(3000),
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '../tv',
  '%7Bp%3Atv%7D',
  'tv\n',
  'TV',
  '0',
  '-',
  '_',
  'null',
  'undefined',
  'NaN',
  '${x}',
  '<script>',
);
const validId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), nastyStrings, validId);
const idLike = (usual: string[]) =>
  fc.oneof(
    { weight: 16, arbitrary: fc.constantFrom(...usual) },
    { weight: 2, arbitrary: validId },
    { weight: 3, arbitrary: anyString },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
const quantityLike = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: 10 }) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      0,
      -1,
      11,
      1.5,
      -0,
      2 ** 31,
      2 ** 53,
      Number.MAX_VALUE,
      '1',
      '5',
      ' 1',
      '0x1',
      null,
      true,
      [1],
      { n: 1 },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
/** Number literals JSON.stringify never writes. */
const rawNumber = fc.constantFrom(
  '1.0',
  '1e0',
  '10e-1',
  '0.99999999999999999',
  '1e309',
  '-1e309',
  '9007199254740993',
  '1' + '0'.repeat(400),
  '-0',
  '01',
  '+1',
  '.5',
  '1.',
  'Infinity',
  'NaN',
  '0x1',
);
const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'productId', 'userId', 'quantity', 'coupon', ''),
  fc.string(),
);

/** `arbitrary` once in `n` draws, else null. */
const onceIn = <T>(n: number, arbitrary: fc.Arbitrary<T>) =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });

/** A valid order with some fields mutated, dropped, doubled or joined by extra keys. */
const nearValidOrder = fc
  .record({
    productId: fc.option(idLike(PRODUCTS), { freq: 12 }),
    userId: fc.option(idLike(['alice', 'bob', 'u-1']), { freq: 12 }),
    quantity: fc.option(quantityLike, { freq: 12 }),
    extra: onceIn(6, fc.dictionary(hostileKey, fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 3 })),
    rawQuantity: onceIn(6, rawNumber),
    duplicate: onceIn(8, fc.tuple(fc.constantFrom('productId', 'userId', 'quantity'), fc.jsonValue({ maxDepth: 1 }))),
    prefix: fc.constantFrom('', '', '', ' ', '\n\t', '\uFEFF'),
  })
  .map(({ productId, userId, quantity, extra, rawQuantity, duplicate, prefix }) => {
    const fields: [string, string][] = [];
    if (duplicate) fields.push([JSON.stringify(duplicate[0]), JSON.stringify(duplicate[1])]);
    if (productId !== null) fields.push(['"productId"', JSON.stringify(productId)]);
    if (userId !== null) fields.push(['"userId"', JSON.stringify(userId)]);
    if (rawQuantity !== null) fields.push(['"quantity"', rawQuantity]);
    else if (quantity !== null) fields.push(['"quantity"', JSON.stringify(quantity)]);
    for (const [key, value] of Object.entries(extra ?? {})) fields.push([JSON.stringify(key), JSON.stringify(value)]);
    return `${prefix}{${fields.map(([key, value]) => `${key}:${value}`).join(',')}}`;
  });

const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 2500 }), fc.constantFrom('[', '{"a":'), fc.boolean())
  .map(([depth, open, asQuantity]) => {
    const nested = open.repeat(depth) + '1' + (open === '[' ? ']' : '}').repeat(depth);
    return asQuantity ? `{"productId":"tv","userId":"alice","quantity":${nested}}` : nested;
  });

const paddedOrder = fc.integer({ min: BODY_LIMIT - 120, max: BODY_LIMIT + 120 }).map((size) => {
  const order = JSON.stringify({ productId: 'tv', userId: 'alice', quantity: 1 });
  return order.slice(0, -1) + ' '.repeat(Math.max(0, size - order.length)) + '}';
});

const payload = fc.oneof(
  { weight: 14, arbitrary: nearValidOrder.map((text) => Buffer.from(text)) },
  { weight: 3, arbitrary: fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value) ?? '')) },
  {
    weight: 3,
    arbitrary: fc
      .dictionary(hostileKey, fc.jsonValue({ maxDepth: 3 }))
      .map((value) => Buffer.from(JSON.stringify(value))),
  },
  { weight: 2, arbitrary: deepNesting.map((text) => Buffer.from(text)) },
  { weight: 1, arbitrary: paddedOrder.map((text) => Buffer.from(text)) },
  { weight: 2, arbitrary: fc.oneof(fc.string(), fc.string({ unit: 'binary' })).map((text) => Buffer.from(text)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
);

/** Printable header values only: Node refuses to send anything else. */
const headerValue = fc.string({ maxLength: 40 }).filter((value) => /^[\x20-\x7e]*$/.test(value));
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...JSON_TYPES) },
  { weight: 3, arbitrary: fc.constantFrom(...OTHER_TYPES) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_TYPES) },
  { weight: 1, arbitrary: headerValue },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const encoding = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Encoding>({}) },
  { weight: 1, arbitrary: fc.constantFrom<Encoding>({ header: 'identity' }, { header: 'IDENTITY' }, { header: '' }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<Compression>('gzip', 'deflate', 'br')
      .map((c): Encoding => ({ header: c, compressed: c })),
  },
  // The header lies: the bytes are not so encoded, or the coding is unknown.
  {
    weight: 2,
    arbitrary: fc.constantFrom<Encoding>(
      { header: 'gzip' },
      { header: 'deflate' },
      { header: 'br' },
      { header: 'compress' },
      { header: 'gzip, gzip' },
      { header: 'x-zip' },
    ),
  },
  { weight: 1, arbitrary: headerValue.filter((value) => value.trim() !== '').map((header): Encoding => ({ header })) },
);
/** A counterexample readable in a report: the payload as text, cut short. */
const describeCase = ({ payload, contentType, encoding }: Case) => {
  const text = payload.toString('utf8');
  const shown = text.length > 200 ? `${text.slice(0, 200)}…(${payload.length} bytes)` : text;
  return `POST /orders ${JSON.stringify(shown)} content-type ${JSON.stringify(contentType)} encoding ${JSON.stringify(encoding)}`;
};
const fuzzCase: fc.Arbitrary<Case> = fc
  .record({ payload, contentType, encoding })
  .map((c) => Object.assign(c, { [fc.toStringMethod]: () => describeCase(c) }));

// ---- the oracle: what a correct API accepts ------------------------------------------------

interface ExpectedOrder {
  productId: string;
  userId: string;
  quantity: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const decodes = ({ header, compressed }: Encoding) =>
  compressed !== undefined
    ? header?.toLowerCase() === compressed
    : header === undefined || header === '' || header.toLowerCase() === 'identity';

/** How a correct API treats the content type: must read it as UTF-8 JSON, must refuse it, or may do either. */
function typeClass(contentType: string | undefined): 'json' | 'other' | 'odd' {
  if (contentType === undefined || OTHER_TYPES.includes(contentType)) return 'other';
  return JSON_TYPES.includes(contentType.trim()) ? 'json' : 'odd';
}

/** The valid order in this request's body read as UTF-8 JSON (maybe for an unknown product), or undefined when there is none. */
function readOrder(c: Case): ExpectedOrder | undefined {
  if (!decodes(c.encoding) || c.payload.length > BODY_LIMIT) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(c.payload).replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if (Object.keys(value).sort().join() !== 'productId,quantity,userId') return undefined;
  const { productId, userId, quantity } = value as Record<string, unknown>;
  if (typeof productId !== 'string' || !ID.test(productId) || typeof userId !== 'string' || !ID.test(userId))
    return undefined;
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 10) return undefined;
  return { productId, userId, quantity };
}

// ---- the HTTP client: raw, so any header can be sent or left out ----------------------------

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

function post(port: number, agent: Agent, c: Case): Promise<Reply> {
  const wire = c.encoding.compressed ? compress[c.encoding.compressed](c.payload) : c.payload;
  const headers: Record<string, string | number> = { 'content-length': wire.length };
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.encoding.header !== undefined) headers['content-encoding'] = c.encoding.header;
  return send(port, agent, { method: 'POST', path: '/orders', headers }, wire);
}

function send(
  port: number,
  agent: Agent,
  options: { method: string; path: string; headers?: Record<string, string | number> },
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, agent, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type']),
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Path segments a bot might send: broken percent-encoding above all. */
const pathSegment = fc.oneof(
  fc.string({
    unit: fc.constantFrom(
      '%',
      '%',
      'A',
      'E',
      '0',
      'f',
      'Z',
      '.',
      '-',
      '_',
      '/',
      ':',
      '{',
      '}',
      '*',
      '~',
      '\\',
      '"',
      "'",
      '<',
      '>',
      '?',
      '&',
      '=',
      ';',
      '|',
      '`',
      '^',
    ),
  }),
  fc.string({ unit: 'grapheme-ascii' }).map((text) => text.replace(/[^\x21-\x7e]/g, (ch) => encodeURIComponent(ch))),
  fc.string({ unit: 'binary' }).map((text) => encodeURIComponent(text)),
  fc.constantFrom('%E0%A4%A', '%ZZ', '%', '%%', '%00', '%C0%AF', '%2e%2e', '..', '.', 'tv.%FF', 'x'.repeat(5000)),
);

describe('POST /orders under fuzzing', () => {
  let server: TestRedis;
  let api: ApiUnderTest;
  let http: Listening;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  before(async () => {
    server = await startRedis();
    api = await apiOn(server, 'fuzz', { RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' });
    for (const productId of PRODUCTS) {
      await request(api.app)
        .put(`/products/${productId}`)
        .set('authorization', `Bearer ${ADMIN_TOKEN}`)
        .send({ stock: 1e9 })
        .expect(200);
    }
    http = await listen(api.app, 0, '127.0.0.1', api.config.http);
  });
  after(async () => {
    agent.destroy();
    await http.close();
    await api.close();
    await server.stop();
  });

  it(`never answers 5xx, refuses with a JSON error, and accepts only valid orders, exactly (${RUNS} runs)`, async (t) => {
    const objectPrototype = Object.getOwnPropertyNames(Object.prototype).sort();
    const arrayPrototype = Object.getOwnPropertyNames(Array.prototype).sort();
    const seen = { accepted: 0, codes: new Map<string, number>() };

    const property = fc.asyncProperty(fuzzCase, async (c) => {
      const keysBefore = await server.client.dbsize();
      const reply = await post(http.port, agent, c);
      const expected = readOrder(c);
      const mustAccept =
        expected !== undefined && PRODUCTS.includes(expected.productId) && typeClass(c.contentType) === 'json';
      const context = `status ${reply.status}, body ${reply.body}`;

      assert.ok(reply.status >= 200 && reply.status < 500, `never a 5xx: ${context}`);
      assert.match(reply.contentType, /^application\/json/, context);
      const body = JSON.parse(reply.body) as {
        orderId?: unknown;
        status?: unknown;
        error?: { code?: unknown; message?: unknown };
      };

      if (reply.status === 202) {
        seen.accepted += 1;
        assert.ok(expected && PRODUCTS.includes(expected.productId), `accepted an invalid order: ${context}`);
        assert.notEqual(typeClass(c.contentType), 'other', `accepted a body that is not JSON: ${context}`);
        assert.equal(body.status, 'queued');
        const orderId = String(body.orderId);
        assert.ok(orderId.startsWith(`${expected.productId}.`), context);
        const job = await api.queue.getJob(orderId);
        assert.deepStrictEqual(job?.data, { orderId, ...expected }, 'the job must carry exactly the validated order');
        assert.match(job.data.productId, ID);
        assert.match(job.data.userId, ID);
        assert.ok(
          Number.isInteger(job.data.quantity) && job.data.quantity >= 1 && job.data.quantity <= api.config.maxQuantity,
        );
      } else {
        const code = body.error?.code;
        assert.ok(typeof code === 'string' && CODES.has(code), `an error body with a known code: ${context}`);
        assert.equal(typeof body.error?.message, 'string', context);
        seen.codes.set(code, (seen.codes.get(code) ?? 0) + 1);
        assert.equal(await server.client.dbsize(), keysBefore, `a refusal changed Redis: ${context}`);
        assert.ok(!mustAccept, `refused a valid order: ${context}`);
        if (expected && typeClass(c.contentType) === 'json') assert.equal(code, 'unknown_product', context);
      }
      assert.deepEqual(
        Object.getOwnPropertyNames(Object.prototype).sort(),
        objectPrototype,
        'Object.prototype was polluted',
      );
      assert.deepEqual(
        Object.getOwnPropertyNames(Array.prototype).sort(),
        arrayPrototype,
        'Array.prototype was polluted',
      );
    });
    await fc.assert(property, { seed: SEED, numRuns: RUNS, includeErrorInReport: true });

    t.diagnostic(`accepted ${seen.accepted}, refused ${JSON.stringify(Object.fromEntries(seen.codes))}`);
    // The fuzz is only worth something if it reached both sides of the contract.
    assert.ok(seen.accepted >= RUNS / 20, `only ${seen.accepted} of ${RUNS} runs were accepted`);
    for (const code of ['invalid_request', 'unknown_product', 'payload_too_large', 'unsupported_media_type']) {
      assert.ok((seen.codes.get(code) ?? 0) > 0, `no run was refused with ${code}: ${JSON.stringify([...seen.codes])}`);
    }
  });

  it('never answers 5xx to hostile paths, and answers JSON', async () => {
    const property = fc.asyncProperty(
      fc.constantFrom('/orders/', '/products/', '/'),
      pathSegment,
      async (route, segment) => {
        const reply = await send(http.port, agent, { method: 'GET', path: route + segment });
        const context = `GET ${route}${segment.slice(0, 200)} → ${reply.status} ${reply.body.slice(0, 200)}`;
        assert.ok(reply.status >= 200 && reply.status < 500, context);
        assert.match(reply.contentType, /^application\/json/, context);
        if (reply.status >= 400)
          assert.ok(CODES.has(String((JSON.parse(reply.body) as Partial<ApiBody>).error?.code)), context);
      },
    );
    await fc.assert(property, { seed: SEED, numRuns: 1000, includeErrorInReport: true });
  });
});
