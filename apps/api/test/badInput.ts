/**
 * POST /orders bodies the API must refuse with a 4xx and a machine-readable code, changing nothing in
 * Redis: the table the single-Redis tests (api.test.ts) and the cluster's (cluster.test.ts) both run.
 */

export const VALID_ORDER = Object.freeze({ productId: 'tv', userId: 'u1', quantity: 1 });
const ok = VALID_ORDER;
const json = (value: unknown) => JSON.stringify(value);

/** [name, raw body, content type, expected status, expected code, a word the message must contain] */
export type BadOrder = [
  name: string,
  body: string,
  contentType: string,
  status: number,
  code: string,
  mentions: string,
];

export const BAD_ORDERS: readonly BadOrder[] = [
  ['quantity 0', json({ ...ok, quantity: 0 }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['quantity -1', json({ ...ok, quantity: -1 }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['quantity 1.5', json({ ...ok, quantity: 1.5 }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['quantity "5"', json({ ...ok, quantity: '5' }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['quantity over the maximum', json({ ...ok, quantity: 11 }), 'application/json', 400, 'invalid_request', 'quantity'],
  [
    'quantity 1e309',
    '{"productId":"tv","userId":"u1","quantity":1e309}',
    'application/json',
    400,
    'invalid_request',
    'quantity',
  ],
  [
    'quantity 2^53+1',
    '{"productId":"tv","userId":"u1","quantity":9007199254740993}',
    'application/json',
    400,
    'invalid_request',
    'quantity',
  ],
  ['quantity null', json({ ...ok, quantity: null }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['quantity an array', json({ ...ok, quantity: [1] }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['quantity missing', json({ productId: 'tv', userId: 'u1' }), 'application/json', 400, 'invalid_request', 'quantity'],
  ['productId with :', json({ ...ok, productId: 'tv:1' }), 'application/json', 400, 'invalid_request', 'productId'],
  ['productId with {}', json({ ...ok, productId: '{tv}' }), 'application/json', 400, 'invalid_request', 'productId'],
  ['productId with *', json({ ...ok, productId: 'tv*' }), 'application/json', 400, 'invalid_request', 'productId'],
  ['userId with CRLF', json({ ...ok, userId: 'u\r\nX: y' }), 'application/json', 400, 'invalid_request', 'userId'],
  ['userId with NUL', json({ ...ok, userId: 'u\u0000' }), 'application/json', 400, 'invalid_request', 'userId'],
  ['userId a look-alike', json({ ...ok, userId: 'аdmin' }), 'application/json', 400, 'invalid_request', 'userId'],
  ['userId empty', json({ ...ok, userId: '' }), 'application/json', 400, 'invalid_request', 'userId'],
  ['userId 65 chars', json({ ...ok, userId: 'x'.repeat(65) }), 'application/json', 400, 'invalid_request', 'userId'],
  ['productId a number', json({ ...ok, productId: 7 }), 'application/json', 400, 'invalid_request', 'productId'],
  ['an unknown field', json({ ...ok, coupon: 'FREE' }), 'application/json', 400, 'invalid_request', 'coupon'],
  [
    '__proto__',
    '{"productId":"tv","userId":"u1","quantity":1,"__proto__":{"admin":true}}',
    'application/json',
    400,
    'invalid_request',
    '__proto__',
  ],
  ['a JSON array', json([ok]), 'application/json', 400, 'invalid_request', 'body'],
  ['a JSON string', '"hello"', 'application/json', 400, 'invalid_request', 'JSON'],
  ['invalid JSON', '{"productId":', 'application/json', 400, 'invalid_request', 'JSON'],
  ['no body', '', 'application/json', 400, 'invalid_request', 'body'],
  [
    'a form body',
    'productId=tv&userId=u1&quantity=1',
    'application/x-www-form-urlencoded',
    415,
    'unsupported_media_type',
    'application/json',
  ],
  ['text/plain', json(ok), 'text/plain', 415, 'unsupported_media_type', 'application/json'],
  ['a 10 kB body', json({ ...ok, userId: 'x'.repeat(10_000) }), 'application/json', 413, 'payload_too_large', '4 kB'],
];
