import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config.ts';
import type { RedisClient } from './connect.ts';

export interface SubscriptionHandlers {
  onMessage(message: string): void;
  /**
   * The channel is subscribed: the first time (`again` false), and after every reconnection (`again`
   * true), when messages published meanwhile were missed and whoever waits on them must look again.
   */
  onSubscribed(again: boolean): void;
  /** SUBSCRIBE was refused (an ACL without the channel, say): nothing arrives until the next reconnection. */
  onError?(error: unknown): void;
}

export interface Subscription {
  /** Whether the channel is subscribed now (false while reconnecting). */
  readonly subscribed: boolean;
  close(): void;
}

/** Attempts at one cluster node before the subscription moves to another (a failed master may never return). */
const ATTEMPTS_PER_NODE = 3;

/**
 * One connection subscribed to `channel`, for the life of the process, resubscribed by us (not by
 * ioredis) after each reconnection so that `onSubscribed(true)` comes once the subscription is back:
 * a read made then cannot miss a message published while it was down. Classic pub/sub: on a single
 * Redis the connection goes to REDIS_URL; on a cluster, where every node relays every message, to any
 * node the cluster client knows (a seed node before it knows any), and to another one when that node
 * stops answering. ioredis's own cluster subscriber does that too, but never says when it has
 * resubscribed, which is what the waiting requests need to hear.
 */
export function subscribe(
  config: Pick<Config, 'redisUrl' | 'redisTlsCaFile' | 'redisCluster'>,
  redis: RedisClient,
  channel: string,
  handlers: SubscriptionHandlers,
): Subscription {
  const ca = config.redisTlsCaFile ? readFileSync(config.redisTlsCaFile) : undefined;
  const cluster = config.redisCluster;
  const common: RedisOptions = {
    connectionName: 'flashline-subscriber',
    autoResubscribe: false,
    // A subscriber sends nothing but SUBSCRIBE: its commands wait for the connection.
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => (cluster && attempt > ATTEMPTS_PER_NODE ? null : Math.min(50 * attempt, 1000)),
  };
  const connect = (): Redis => {
    if (!cluster) return new Redis(config.redisUrl, { ...common, ...(ca ? { tls: { ca } } : {}) });
    const known = redis instanceof Cluster ? redis.nodes('all').map((node) => node.options) : [];
    const nodes = known.length > 0 ? known : cluster.nodes;
    const { host, port } = nodes[Math.floor(Math.random() * nodes.length)]!;
    return new Redis({
      ...common,
      host,
      port,
      ...(cluster.username === undefined ? {} : { username: cluster.username }),
      ...(cluster.password === undefined ? {} : { password: cluster.password }),
      ...(cluster.tls ? { tls: ca ? { ca } : {} } : {}),
    });
  };

  let closed = false;
  let subscribed = false;
  let subscribedBefore = false;
  let connection: Redis;
  const open = () => {
    const current = connect();
    connection = current;
    current.on('error', () => {});
    current.on('message', (_channel: string, message: string) => handlers.onMessage(message));
    current.on('ready', () => {
      current.subscribe(channel).then(
        () => {
          subscribed = true;
          const again = subscribedBefore;
          subscribedBefore = true;
          handlers.onSubscribed(again);
        },
        (error: unknown) => handlers.onError?.(error),
      );
    });
    current.on('close', () => (subscribed = false));
    // Only on a cluster does a connection give up (ATTEMPTS_PER_NODE): the next one goes to another node.
    current.once('end', () => {
      if (!closed) setTimeout(open, 100).unref();
    });
  };
  open();
  return {
    get subscribed() {
      return subscribed;
    },
    close() {
      closed = true;
      connection.disconnect();
    },
  };
}
