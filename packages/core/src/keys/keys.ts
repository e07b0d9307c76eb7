import { sha256Url } from '../crypto/digest.ts';

/** 128 bits of SHA-256 in base64url: `[A-Za-z0-9_-]` only, so never a `{`, `}` or `:` in a key. */
const digest = (text: string) => sha256Url(text).slice(0, 22);

/**
 * How many hash tags the products share. Every product's keys carry its group's tag, so one commit
 * script can decide the orders of every product of a group that a wave holds (a wide sale's orders
 * fall on hundreds of products; a commit per product would cost a script call for every few orders).
 * 64 groups still spread a sale over 64 Redis Cluster slots. Changing it moves every product's keys.
 */
export const PRODUCT_GROUPS = 64;

/** FNV-1a over the id's characters (ids are ASCII): the same group in every process, cheaply. */
function groupOf(productId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < productId.length; i++) hash = Math.imul(hash ^ productId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % PRODUCT_GROUPS;
}

/**
 * Every Redis key Flashline writes, built here and nowhere else.
 * All keys of one product live under its group's hash tag (`fl:{g:17}:p:<productId>:…`), so the
 * order transaction (stock, buyers, order, fence, lock) of one product, or of several products of
 * one group, stays in one Redis Cluster slot. Product and order ids are validated to
 * `[A-Za-z0-9_-]`, so they can never inject a `{`, `}` or `:` into a key.
 */
const ORDER = ':order:';

/** BullMQ's prefix by default: one hash tag, so that every key of a queue stays in one Cluster slot. */
export const queuePrefixOf = (keyPrefix: string): string => `${keyPrefix}:{queue}`;

/** A key BullMQ keeps for a queue (`<queuePrefix>:<queue>:<name>`: `wait`, `active`, a job id), for readers that go to Redis. */
export const bullmqKey = (queuePrefix: string, queue: string, name: string): string =>
  `${queuePrefix}:${queue}:${name}`;

/**
 * A key's hash tag (`{u:17}`), or the whole key when it has none: keys with the same tag are in one
 * Redis Cluster slot, so the keys one command or script takes on a cluster are grouped by it.
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open, close + 1) : key;
}

export function createKeys(prefix: string) {
  const product = (productId: string) => `${prefix}:{g:${groupOf(productId)}}:p:${productId}`;
  // A buyer's keys: the same 64 groups as products, under another tag (another slot than the products').
  const buyer = (userId: string) => `${prefix}:{u:${groupOf(userId)}}:b`;
  return {
    prefix,
    /** The product's group (its keys' hash tag): products of one group can share one script call. */
    group: groupOf,
    /** Hash: stock (units left), sold, perUserLimit (0 = none). */
    product: (productId: string) => `${product(productId)}:product`,
    /** Hash: userId → units confirmed to that user. */
    buyers: (productId: string) => `${product(productId)}:buyers`,
    /** String: the current lock holder's random token. */
    lock: (productId: string) => `${product(productId)}:lock`,
    /** Counter: the fencing token, incremented by every lock acquisition. */
    fence: (productId: string) => `${product(productId)}:fence`,
    /** Sorted set: ids of the product's undecided orders, scored by acceptance time (the reconciler reads it). */
    pending: (productId: string) => `${product(productId)}:pending`,
    /**
     * Sorted set: the product's held orders (`reserved`), by order key, scored by their payment deadline
     * (epoch ms). The product hash's `holdsDueAt` is its lowest score, so an accept can tell without
     * reading it whether a hold has expired (its units count as free). The scripts that release holds
     * reach each order hash through its key here: the member is a key of the same hash tag, written by
     * the scripts themselves, as BullMQ's scripts reach job hashes through the ids in their lists.
     */
    holds: (productId: string) => `${product(productId)}:holds`,
    /**
     * Stream: the webhook outbox of a product group, written in the same script as each change of an
     * order's state (WEBHOOK_URL set), read by the worker's relay. Each entry's fields: `event` (the
     * stable event id, `<orderId>.<seq>`), `type` (`order.reserved`, ...), `at` (epoch ms of the
     * change), then the order hash's fields as the change left them (orderFromFields reads them; `seq`, the
     * order's event sequence number, 1 for its first event, is one of them).
     */
    outbox: (group: number) => `${prefix}:{g:${group}}:outbox`,
    /** String (expires): the lease of the one relay that moves a queue partition's outbox entries into its webhooks queue. */
    webhookRelay: (partition: number) => `${prefix}:{webhooks}:relay:${partition}`,
    /**
     * Stream: a queue partition's webhook backlog, the events waiting for room in its webhooks queue
     * (entries as the outbox's, moved here by the relay), at most WEBHOOK_BACKLOG_MAX: a receiver that is
     * down leaves its events here, at a tenth of a BullMQ job's memory (docs/webhooks.md). A tag per
     * partition, so that the partitions' backlogs spread over a cluster's masters.
     */
    webhookBacklog: (partition: number) => `${prefix}:{webhooks:${partition}}:backlog`,
    /**
     * String (expires): set by every process with WEBHOOK_URL, renewed every minute, kept 10 minutes:
     * while it exists the system's webhooks are on, and every process writes the events of its changes.
     */
    webhooksOn: () => `${prefix}:{webhooks}:on`,
    /** Hash: the events the partition's backlog dropped past its budget: `count`, `firstAt`, `lastAt` (epoch ms). */
    webhookDropped: (partition: number) => `${prefix}:{webhooks:${partition}}:dropped`,
    /**
     * Set: the ids of a group's products, written in the step that creates a product (its group's
     * hash tag, so in the same script); the reconciler and the sale panel walk every group's.
     */
    productsOfGroup: (group: number) => `${prefix}:{g:${group}}:products`,
    /**
     * Stream: the dashboard's audit log of admin actions (who did what to which job, when, how it ended);
     * entries older than AUDIT_RETENTION_DAYS are trimmed as new ones are written, never otherwise.
     */
    audit: () => `${prefix}:audit`,
    /** Stream: the refused attempts of the dashboard's viewer, capped (AUDIT_REFUSED_MAX), apart from the admin's. */
    auditRefused: () => `${prefix}:{audit}:refused`,
    /**
     * String (expires): set while one viewer's refused attempts of one kind are written once per window;
     * `kind` is digested, so no part of a request path reaches the key.
     */
    auditRefusedGate: (kind: string) => `${prefix}:{audit}:gate:${digest(kind)}`,
    /** Counter: that kind's attempts refused since its last entry, carried into the next one. */
    auditRefusedSkipped: (kind: string) => `${prefix}:{audit}:skipped:${digest(kind)}`,
    /** Counter (expires with its window): failed dashboard logins from one address, for one user name, or both. */
    loginFailures: (scope: 'ip' | 'user' | 'ipUser', id: string) => `${prefix}:{login}:${scope}:${digest(id)}`,
    /**
     * String (expires within a second): written by the API's readiness check, which thereby asks Redis
     * whether it takes writes (a full Redis answers PING but refuses every order). One key for every process.
     */
    readinessProbe: () => `${prefix}:readyz`,
    /**
     * Pub/sub channel (no key is stored): after each job, the worker PUBLISHes on it the space-separated ids
     * of the job's orders that are decided (the reconciler, those it ends processing_failed); every API process SUBSCRIBEs to it once and wakes the requests
     * waiting on those orders (`GET /orders/:id?wait=`). Classic pub/sub, not sharded: on a cluster each
     * message is relayed to every node, and an API process's one subscription may sit on any of them
     * (docs/http.md#waiting-for-the-decision).
     */
    decidedChannel: () => `${prefix}:decided`,
    /** String: the lease of the one reconciler that runs at a time. */
    reconciler: () => `${prefix}:reconciler`,
    /** Hash: one order and its decision. */
    order: (productId: string, orderId: string) => `${product(productId)}${ORDER}${orderId}`,
    /** The order id in an order hash's key (`order` backwards). */
    orderIdOf: (orderKey: string) => orderKey.slice(orderKey.lastIndexOf(ORDER) + ORDER.length),
    /** SCAN pattern matching every order hash, of every product. */
    everyOrder: () => `${prefix}:{g:*}:p:*:order:*`,
    /**
     * String: `<orderId> <fingerprint>` for one buyer's Idempotency-Key (by the digest of buyer and key),
     * under the buyer's group: a buyer's keys and request counter share a slot, another buyer's are spread.
     */
    idempotency: (userId: string, keyDigest: string) => `${buyer(userId)}:idem:${keyDigest}`,
    /** SCAN pattern matching every Idempotency-Key, of every buyer. */
    everyIdempotencyKey: () => `${prefix}:{u:*}:b:idem:*`,
    /**
     * Counter: one client's requests in the current rate-limit window (expires with the window): a
     * buyer's under the buyer's group, an address's under a group of addresses, so that a batch of
     * counts goes in one call per group on a cluster. The id is digested: an IP address may hold `:`
     * (IPv6) and, behind a proxy, anything a header says.
     */
    rateLimit: (scope: 'ip' | 'user', id: string) =>
      scope === 'user'
        ? `${buyer(id)}:rl:user:${digest(id)}`
        : `${prefix}:{ip:${groupOf(digest(id))}}:rl:ip:${digest(id)}`,
    /** SCAN pattern matching every rate-limit counter of a scope. */
    everyRateLimit: (scope: 'ip' | 'user') =>
      scope === 'user' ? `${prefix}:{u:*}:b:rl:user:*` : `${prefix}:{ip:*}:rl:ip:*`,
    /**
     * String (expires in a minute): written just before a WAIT in the slot of `key` (its hash tag), so the
     * WAIT covers every write that master had made by then, not only this connection's (REDIS_WAIT_REPLICAS).
     */
    replicationMark: (key: string) => `${prefix}:${hashTagOf(key)}:replicated`,
    /**
     * Sorted set: ids (`<host>:<pid>`) of the workers announcing the queue partitions they serve, scored by
     * their last announcement (epoch ms): an index only, the expiring `servedBy` key is the heartbeat.
     */
    partitionWorkers: () => `${prefix}:{workers}:serving`,
    /** String: the partitions one worker serves (`0,2,5`), expiring a few seconds after its last announcement. */
    servedBy: (workerId: string) => `${prefix}:{workers}:serves:${workerId}`,
    /** Sorted set: ids (`<host>:<pid>`) of the workers publishing metrics, scored by their last write (epoch ms). */
    metricsWorkers: () => `${prefix}:{metrics}:workers`,
    /** String: one worker's metrics (prom-client JSON), expiring a few seconds after its last write. */
    workerMetrics: (workerId: string) => `${prefix}:{metrics}:worker:${workerId}`,
    /** Sorted set: ids of the API processes publishing their door counts, scored by their last write (epoch ms). */
    metricsApis: () => `${prefix}:{metrics}:apis`,
    /** String: one API process's door counts (JSON, metrics/door.ts), expiring a few seconds after its last write. */
    apiDoor: (apiId: string) => `${prefix}:{metrics}:api:${apiId}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
