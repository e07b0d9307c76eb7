import type { Config } from '../config/config.ts';
import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';

/**
 * Whether the system's webhooks are on: one answer for every process, so that an API or a worker
 * without WEBHOOK_URL writes the events of the changes it makes (a confirm, a cancel, an expiry) as
 * the others do. Every process with WEBHOOK_URL announces it (`keys.webhooksOn`, renewed every
 * minute, kept 10 minutes); every other process reads the announcement every second. Webhooks stay
 * on for 10 minutes after the last process with WEBHOOK_URL has stopped (a restart never loses the
 * events of its gap), then the outbox is no longer written.
 */
export interface WebhookEvents {
  /** Read at each state change: write its event or not. */
  readonly on: boolean;
  /** Resolves once the first announcement or read has answered (or failed: then it is off, until the next read). */
  readonly ready: Promise<void>;
  stop(): void;
}

export const ANNOUNCE_TTL_MS = 10 * 60_000;
export const ANNOUNCE_EVERY_MS = 60_000;
export const READ_EVERY_MS = 1000;

export function startWebhookEvents(
  redis: RedisClient,
  keys: Keys,
  config: Pick<Config, 'webhooks'>,
  onError: (error: unknown) => void = () => {},
): WebhookEvents {
  const key = keys.webhooksOn();
  const announces = config.webhooks !== null;
  let on = announces;
  const step = async () => {
    try {
      if (announces) await redis.set(key, '1', 'PX', ANNOUNCE_TTL_MS);
      else on = (await redis.exists(key)) === 1;
    } catch (error) {
      onError(error);
    }
  };
  const ready = step();
  const timer = setInterval(() => void step(), announces ? ANNOUNCE_EVERY_MS : READ_EVERY_MS);
  timer.unref();
  return {
    get on() {
      return on;
    },
    ready,
    stop: () => clearInterval(timer),
  };
}
