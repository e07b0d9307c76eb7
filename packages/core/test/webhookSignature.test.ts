import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signWebhook, verifyWebhookSignature } from '../src/index.ts';

const SECRET = 'whsec-0123456789abcdef';
const BODY = '{"id":"tv.abc.1","type":"order.confirmed"}';
const NOW = Date.UTC(2026, 11, 2, 21, 0, 0);

describe('webhook signatures', () => {
  it('verifies its own signature, with the t it was made at', () => {
    const header = signWebhook(BODY, SECRET, NOW);
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(header.split(',')[0], `t=${NOW / 1000}`);
    assert.equal(verifyWebhookSignature(header, BODY, SECRET, { now: NOW }), true);
    assert.equal(verifyWebhookSignature(header, Buffer.from(BODY), SECRET, { now: NOW + 299_000 }), true);
  });

  it('is the Stripe convention: hex HMAC-SHA256 of "<t>.<raw body>"', async () => {
    const { createHmac } = await import('node:crypto');
    const t = NOW / 1000;
    const v1 = createHmac('sha256', SECRET).update(`${t}.${BODY}`).digest('hex');
    assert.equal(signWebhook(BODY, SECRET, NOW), `t=${t},v1=${v1}`);
  });

  it('refuses a bad signature, another secret, a tampered body and a missing or garbled header', () => {
    const header = signWebhook(BODY, SECRET, NOW);
    const flipped = header.slice(0, -1) + (header.endsWith('0') ? '1' : '0');
    assert.equal(verifyWebhookSignature(flipped, BODY, SECRET, { now: NOW }), false, 'a bad signature passed');
    assert.equal(verifyWebhookSignature(header, BODY, 'another-secret-0123456', { now: NOW }), false);
    assert.equal(verifyWebhookSignature(header, BODY.replace('confirmed', 'cancelled'), SECRET, { now: NOW }), false);
    assert.equal(verifyWebhookSignature(header, `${BODY} `, SECRET, { now: NOW }), false, 'a byte added passed');
    for (const bad of [undefined, '', 'garbage', `v1=${header.split('v1=')[1]}`, header.split(',')[0]!, 't=x,v1=00'])
      assert.equal(verifyWebhookSignature(bad, BODY, SECRET, { now: NOW }), false, String(bad));
  });

  it('refuses a t outside the tolerance, old or ahead, and a t moved to pass it', () => {
    const header = signWebhook(BODY, SECRET, NOW);
    assert.equal(verifyWebhookSignature(header, BODY, SECRET, { now: NOW + 301_000 }), false, 'an old t passed');
    assert.equal(verifyWebhookSignature(header, BODY, SECRET, { now: NOW - 301_000 }), false, 'a t ahead passed');
    assert.equal(verifyWebhookSignature(header, BODY, SECRET, { now: NOW + 3_000_000, toleranceS: 3600 }), true);
    // A replay with a fresh t: the signature was made over the old one.
    const replayed = header.replace(/^t=\d+/, `t=${NOW / 1000 + 600}`);
    assert.equal(verifyWebhookSignature(replayed, BODY, SECRET, { now: NOW + 600_000 }), false);
  });

  it('accepts any of several v1 signatures (a secret being rotated)', () => {
    const header = signWebhook(BODY, SECRET, NOW);
    const other = signWebhook(BODY, 'the-old-secret-0123456', NOW).split(',')[1]!;
    assert.equal(verifyWebhookSignature(`${header},${other}`, BODY, SECRET, { now: NOW }), true);
    assert.equal(
      verifyWebhookSignature(`${header.split(',')[0]},${other},${header.split(',')[1]}`, BODY, SECRET, { now: NOW }),
      true,
    );
  });
});
