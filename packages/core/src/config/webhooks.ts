import { z } from 'zod';
import { redactUrl } from '../redis/redactUrl.ts';

/** Where order events go, and the key that signs them (WEBHOOK_*); null: webhooks off. */
export interface WebhookSettings {
  /** The shop's receiver (http or https). May carry credentials: log it through redactUrl only. */
  url: string;
  /** The HMAC-SHA256 key of the Flashline-Signature header: never logged (`toJSON` hides it). */
  secret: string;
  /** One delivery attempt's limit, connection to response headers. */
  timeoutMs: number;
  /** Deliveries one worker process makes at once, shared by its partitions. */
  concurrency: number;
  /** The first retry's delay; each next one doubles, up to an hour (backoff.ts). */
  backoffBaseMs: number;
  /** Outbox entries the relay reads from one group stream per read. */
  relayBatch: number;
  /** How long an idle relay waits before it looks at its outbox streams again. */
  relayIdleMs: number;
  /** Events a queue partition keeps waiting for the receiver, in its compact backlog; past it the oldest are dropped (counted). */
  backlogMax: number;
  /** Unfinished deliveries (BullMQ jobs) a partition's webhooks queue holds at most: the rest wait in the backlog. */
  inFlightMax: number;
}

/** WEBHOOK_URL: an absolute http or https URL. The value is never echoed in the message (it may hold credentials). */
export const webhookUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

/**
 * The settings as the config exposes them. The secret stays a plain property (the code reads it), but
 * JSON (pino, a `JSON.stringify(config)`) and `util.inspect` see `[redacted]`: a config logged whole
 * by mistake does not leak it.
 */
export function webhookSettings(settings: WebhookSettings): WebhookSettings {
  const shown = () => ({ ...settings, url: redactUrl(settings.url), secret: '[redacted]' });
  return Object.defineProperties(
    { ...settings },
    {
      toJSON: { value: shown, enumerable: false },
      [Symbol.for('nodejs.util.inspect.custom')]: { value: shown, enumerable: false },
    },
  );
}
