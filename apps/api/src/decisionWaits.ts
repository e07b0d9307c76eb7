import {
  OrderWaiters,
  decidedIdsOf,
  errorFields,
  subscribe,
  type Config,
  type Keys,
  type Logger,
  type RedisClient,
} from '@flashline/core';

export interface DecisionWaits {
  waiters: OrderWaiters;
  /** Wakes every waiter (each answers its order as it is) and ends the subscription. */
  close(): void;
}

/**
 * The waits of `GET /orders/:id?wait=` for this process: one registry, fed by one subscription to
 * the decided channel (not one per request), opened here for the life of the process.
 */
export function startDecisionWaits(config: Config, redis: RedisClient, keys: Keys, log: Logger): DecisionWaits {
  const waiters = new OrderWaiters({
    redis,
    keys,
    max: config.orderWaitMax.total,
    maxPerOrder: config.orderWaitMax.perOrder,
    maxPerAddress: config.orderWaitMax.perIp,
    onReadError: (error) => log('warn', 'could not read the orders a decision names', errorFields(error)),
  });
  const subscription = subscribe(config, redis, keys.decidedChannel(), {
    onMessage: (message) => void waiters.decided(decidedIdsOf(message)),
    onSubscribed: (again) => {
      if (!again) return;
      log('info', 'decisions subscription back: looking at the waited-on orders', { waiting: waiters.size });
      void waiters.recheck();
    },
    onError: (error) =>
      log('warn', 'could not subscribe to decisions: waits end at their deadline', errorFields(error)),
  });
  return {
    waiters,
    close() {
      waiters.close();
      subscription.close();
    },
  };
}
