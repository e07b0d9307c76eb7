/** The backoff type the webhooks queue's jobs name; the delivery worker's `backoffStrategy` answers it. */
export const WEBHOOK_BACKOFF = 'webhook';

/** No retry waits longer than this: a receiver back up is served within the hour. */
export const MAX_RETRY_DELAY_MS = 3600 * 1000;

/** Retries go on for at least this long before a delivery fails for good. */
export const RETRY_SPAN_MS = 24 * 3600 * 1000;

/** The wait before retry `n` (1 for the first retry): `base × 2^(n-1)`, at most an hour. */
export function retryDelayMs(retry: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, retry - 1), MAX_RETRY_DELAY_MS);
}

/** How long `attempts` attempts wait in all between the first and the last (the sum of the retries' delays). */
export function retrySpanMs(attempts: number, baseMs: number): number {
  let span = 0;
  for (let retry = 1; retry < attempts; retry++) span += retryDelayMs(retry, baseMs);
  return span;
}

/** The fewest attempts whose retries span RETRY_SPAN_MS (36 with a base of 1 s: 24.1 hours). */
export function attemptsToSpan(baseMs: number, spanMs = RETRY_SPAN_MS): number {
  let attempts = 1;
  for (let span = 0; span < spanMs; attempts++) span += retryDelayMs(attempts, baseMs);
  return attempts;
}
