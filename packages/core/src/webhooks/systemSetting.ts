import type { Config } from '../config/config.ts';
import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';

/**
 * Whether the system's webhooks are on: one answer for every process, so that an API or a worker
 * without WEBHOOK_URL writes the events of the changes it makes (a confirm, a cancel, an expiry) as
 * the others do. Every process with WEBHOOK_URL announces it (`keys.webhooksOn`, renewed every
 * minute, kept 10 minutes); every other process reads the announcement, at most once a second.
 * Webhooks stay on for 10 minutes after the last process with WEBHOOK_URL has stopped (a restart
 * never loses the events of its gap), then the outbox is no longer written.
 */
export interface WebhookEvents {
  /** The answer as last read (a worker reads it every second; it is read at each commit). */
  readonly on: boolean;
  /** The answer at most a second old: read now when the last read is older (an idle API reads nothing). */
  current(): Promise<boolean>;
  /** Resolves once the first announcement or read has answered (or failed: then it is off until the next). */
  readonly ready: Promise<void>;
  stop(): void;
}

export const ANNOUNCE_TTL_MS = 10 * 60_000;
export const ANNOUNCE_EVERY_MS = 60_000;
export const READ_EVERY_MS = 1000;

export interface WebhookEventsOptions {
  /** Read every second whether needed or not (a worker, whose commits read `on`); otherwise only on `current`. */
  poll?: boolean;
  onError?: (error: unknown) => void;
}

export function startWebhookEvents(
  redis: RedisClient,
  keys: Keys,
  config: Pick<Config, 'webhooks'>,
  { poll = false, onError = () => {} }: WebhookEventsOptions = {},
): WebhookEvents {
  const key = keys.webhooksOn();
  const announces = config.webhooks !== null;
  let on = announces;
  let readAt = 0;
  let reading: Promise<boolean> | undefined;
  const read = () =>
    (reading ??= redis
      .exists(key)
      .then(
        (exists) => {
          on = exists === 1;
          readAt = Date.now();
          return on;
        },
        (error: unknown) => {
          onError(error);
          return on;
        },
      )
      .finally(() => (reading = undefined)));
  const announce = () =>
    redis.set(key, '1', 'PX', ANNOUNCE_TTL_MS).then(
      () => {},
      (error: unknown) => onError(error),
    );
  const ready = announces ? announce() : read().then(() => {});
  const timer =
    announces || poll
      ? setInterval(() => void (announces ? announce() : read()), announces ? ANNOUNCE_EVERY_MS : READ_EVERY_MS)
      : undefined;
  timer?.unref();
  return {
    get on() {
      return on;
    },
    current: () => (announces || Date.now() - readAt < READ_EVERY_MS ? Promise.resolve(on) : read()),
    ready,
    stop: () => clearInterval(timer),
  };
}
