import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every event carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (Stripe's scheme). */
export const SIGNATURE_HEADER = 'Flashline-Signature';

/** How old (or how far ahead) a signature's `t` may be by default: 5 minutes, as Stripe's. */
export const DEFAULT_TOLERANCE_S = 300;

const hmac = (secret: string, t: number, rawBody: string | Buffer) =>
  createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest('hex');

/** The header's value for one attempt: `t` is when it is sent, so a replay ages out of the tolerance. */
export function signWebhook(rawBody: string | Buffer, secret: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${hmac(secret, t, rawBody)}`;
}

/**
 * What a receiver calls on every request, with the body exactly as it arrived (bytes, not re-serialised
 * JSON): true when one of the header's `v1` signatures is the HMAC of `<t>.<rawBody>` under `secret`
 * and `t` is within `toleranceS` of `now` (epoch ms). The comparison takes the same time whatever
 * the signature, so a forger cannot guess it byte by byte.
 */
export function verifyWebhookSignature(
  header: string | undefined | null,
  rawBody: string | Buffer,
  secret: string,
  { toleranceS = DEFAULT_TOLERANCE_S, now = Date.now() }: { toleranceS?: number; now?: number } = {},
): boolean {
  if (!header) return false;
  let t: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (t === undefined || signatures.length === 0) return false;
  if (Math.abs(now / 1000 - t) > toleranceS) return false;
  const expected = Buffer.from(hmac(secret, t, rawBody), 'hex');
  // Every candidate is compared (no early exit on a match): the time does not tell which one matched.
  let matched = false;
  for (const signature of signatures) matched = timingSafeEqual(signature, expected) || matched;
  return matched;
}
