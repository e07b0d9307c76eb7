import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { PRODUCT_GROUPS, queuePrefixOf } from '../keys/keys.ts';
import { LOG_LEVELS } from '../log/logger.ts';
import { buyerTokenPublicKey, buyerTokensOf } from './buyerTokens.ts';
import { partitionList, queuePartitions, redisClusterNodes } from './redisCluster.ts';
import { webhookSettings, webhookUrl } from './webhooks.ts';

/** HTTP_MAX_CONNECTIONS_PER_IP when TRUST_PROXY is false and it is not set. */
const DEFAULT_MAX_CONNECTIONS_PER_IP = 1000;

/**
 * A whole number of at least `min`, written plainly (digits only), with a message that says so and
 * shows what was given, never zod's bare "expected number, received NaN".
 */
const wholeNumber = (min: number) =>
  z.string().transform((value, ctx) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (Number.isSafeInteger(n) && n >= min) return n;
    ctx.addIssue(`must be a whole number, at least ${min} (got ${JSON.stringify(value.slice(0, 40))})`);
    return z.NEVER;
  });
const int = (min: number, fallback: number) => wholeNumber(min).default(fallback);
const namePattern = /^[A-Za-z0-9_-]{1,32}$/;

/** Express's `trust proxy`: which proxies may tell the client address in X-Forwarded-For. */
export type TrustProxy = boolean | number | string[];

const proxyNames = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An address, a CIDR subnet, or one of proxy-addr's names. */
function isProxyAddress(entry: string): boolean {
  if (proxyNames.has(entry) || isIP(entry) !== 0) return true;
  const [address = '', bits = '', ...rest] = entry.split('/');
  const family = isIP(address);
  return rest.length === 0 && family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** `false`, `true`, a hop count, or a comma-separated list of addresses; undefined when none of these. */
function parseTrustProxy(value: string): TrustProxy | undefined {
  if (value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d{1,2}$/.test(value)) return Number(value);
  const entries = value.split(',').map((entry) => entry.trim());
  return entries.every(isProxyAddress) ? entries : undefined;
}

// Redis's own units (redis.conf): k = 1000 bytes, kb = 1024, and so on.
const memoryUnits: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1024,
  m: 1e6,
  mb: 1024 ** 2,
  g: 1e9,
  gb: 1024 ** 3,
};
const MIN_MAXMEMORY = 8 * 1024 ** 2;

/** A Redis memory size (`1gb`, `512mb`, `1073741824`) in bytes, at least 8 MiB (BullMQ and the API need headroom). */
const redisMemory = z
  .string()
  .transform((value, ctx) => {
    const [, digits = '', unit = ''] = /^(\d{1,15})([a-z]*)$/i.exec(value) ?? [];
    const bytes = Number(digits) * (memoryUnits[unit.toLowerCase()] ?? NaN);
    if (!(bytes >= MIN_MAXMEMORY)) {
      ctx.addIssue('a memory size of at least 8mb: bytes, or a number with b, k, kb, m, mb, g or gb (1gb)');
      return z.NEVER;
    }
    return bytes;
  })
  .default(1024 ** 3);

const trustProxy = z
  .string()
  .transform((value, ctx) => {
    const parsed = parseTrustProxy(value);
    if (parsed === undefined) {
      ctx.addIssue(
        'false, true, a hop count, or a comma-separated list of addresses, CIDR subnets, loopback, linklocal or uniquelocal',
      );
      return z.NEVER;
    }
    return parsed;
  })
  .default(false);

/**
 * Every setting Flashline reads, with its default. Parsed once at start-up by `loadConfig`
 * and passed down: nothing deeper in the code reads `process.env`.
 */
const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test'], 'development, production or test').default('development'),
    LOG_LEVEL: z.enum(LOG_LEVELS, 'debug, info, warn or error').default('info'),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .default('redis://127.0.0.1:6379'),
    // The embedded redis-server's maxmemory (npm start); docker-compose.yml reads the same variable.
    REDIS_MAXMEMORY: redisMemory,
    // A CA bundle (PEM) to trust for rediss:// URLs, e.g. a private CA; without it the system CAs are trusted.
    REDIS_TLS_CA_FILE: z.string().min(1).optional(),
    // Seed nodes of a Redis Cluster: set, every process talks to the cluster instead of REDIS_URL.
    REDIS_CLUSTER_NODES: redisClusterNodes.optional(),
    QUEUE_PARTITIONS: queuePartitions.optional(),
    WORKER_PARTITIONS: partitionList.optional(),
    KEY_PREFIX: z.string().regex(namePattern, 'letters, digits, _ and - only (1 to 32)').default('fl'),
    QUEUE_PREFIX: z.string().min(1).optional(),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(0, 3000),
    DASHBOARD_PORT: int(0, 3001),
    // A worker's /healthz and /readyz (on HOST); unset, a worker serves no HTTP. 0 = a free port (logged).
    WORKER_HEALTH_PORT: wholeNumber(0).pipe(z.number().max(65_535, 'at most 65535')).optional(),
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    DASHBOARD_USER: z.string().min(1).default('admin'),
    DASHBOARD_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
    DASHBOARD_VIEWER_USER: z.string().min(1).default('viewer'),
    DASHBOARD_VIEWER_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
    SALE_PANEL_INTERVAL_MS: int(100, 250),
    SALE_PANEL_STREAMS_PER_USER: int(1, 5),
    SALE_PANEL_MAX_BUFFER_BYTES: int(16_384, 1_048_576),
    LOGIN_FAILURES_PER_IP: int(0, 10),
    LOGIN_FAILURES_PER_USER: int(0, 20),
    LOGIN_FAILURE_WINDOW_S: int(1, 900),
    AUDIT_RETENTION_DAYS: int(1, 90),
    AUDIT_REFUSED_MAX: int(100, 10_000),
    AUDIT_REFUSED_EVERY_S: int(1, 60),
    MAX_QUANTITY: int(1, 10),
    SOLD_OUT_MEMORY_MS: int(0, 500),
    API_PROCESSES: int(1, availableParallelism()),
    WORKERS: int(1, availableParallelism()),
    WORKER_CONCURRENCY: int(1, 64),
    MAX_BATCH: int(1, 64),
    ACCEPT_BATCH: int(1, 64),
    COMMIT_CLAIMS_LOCK: z.enum(['true', 'false'], 'true or false').default('true'),
    JOB_ATTEMPTS: int(1, 8),
    JOB_BACKOFF_MS: int(1, 200),
    LOCK_TTL_MS: int(100, 5000),
    LOCK_WAIT_MS: int(0, 3000),
    LOCK_RETRY_MS: int(1, 10),
    REDIS_TIMEOUT_MS: int(50, 2000),
    REDIS_CONNECT_TIMEOUT_S: int(0, 30),
    REDIS_ALLOW_FOREIGN_KEYS: z.enum(['true', 'false'], 'true or false').default('false'),
    REDIS_WAIT_REPLICAS: int(0, 0),
    REDIS_WAIT_TIMEOUT_MS: int(1, 500),
    IDEMPOTENCY_TTL_S: int(1, 24 * 3600),
    ORDER_RETENTION_S: int(1, 24 * 3600),
    SHUTDOWN_TIMEOUT_MS: int(100, 10_000),
    JOB_LOCK_MS: int(1000, 30_000),
    MAX_STALLED: int(1, 5),
    RECONCILE_AFTER_MS: int(1000, 60_000),
    RECONCILE_INTERVAL_MS: int(100, 5000),
    // Negative controls of the fault tests only: switches a safety check off to prove the tests
    // would catch its absence. Refused with NODE_ENV=production.
    FLASHLINE_BREAK: z
      .string()
      .default('')
      .transform((list) => list.split(',').filter(Boolean))
      .pipe(z.array(z.enum(['idempotency', 'fencing', 'holds'], 'lists what to break: idempotency, fencing, holds'))),
    RATE_LIMIT_WINDOW_MS: int(1, 1000),
    RATE_LIMIT_PER_IP: int(0, 200),
    RATE_LIMIT_PER_USER: int(0, 5),
    TRUST_PROXY: trustProxy,
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    // Signed buyer tokens (JWT) on the order routes: an HS256 secret or an RS256/ES256 public key (PEM).
    BUYER_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    BUYER_TOKEN_PUBLIC_KEY: buyerTokenPublicKey.optional(),
    BUYER_TOKEN_ISSUER: z.string().min(1).optional(),
    BUYER_TOKEN_AUDIENCE: z.string().min(1).optional(),
    BUYER_TOKEN_MAX_AGE_S: int(1, 86_400),
    HTTP_HEADERS_TIMEOUT_MS: int(100, 10_000),
    HTTP_REQUEST_TIMEOUT_MS: int(100, 30_000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: int(100, 5_000),
    HTTP_MAX_CONNECTIONS: int(1, 10_000),
    // No default here: it depends on TRUST_PROXY (see `http` below).
    HTTP_MAX_CONNECTIONS_PER_IP: wholeNumber(0).optional(),
    ORDER_WAIT_MAX: int(0, 5000),
    ORDER_WAIT_MAX_PER_ORDER: int(0, 4),
    ORDER_WAIT_MAX_PER_IP: int(0, 100),
    PRODUCT_CACHE_MAX_AGE_S: int(0, 1).pipe(z.number().max(3600, 'at most 3600 (an hour)')),
    DOOR_PUBLISH_MS: int(0, 1000).refine((ms) => ms === 0 || (ms >= 100 && ms <= 1000), '0 (off), or 100 to 1000'),
    // Order events POSTed to the shop (docs/webhooks.md): off without a URL.
    WEBHOOK_URL: webhookUrl.optional(),
    WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    WEBHOOK_TIMEOUT_MS: int(100, 10_000),
    WEBHOOK_CONCURRENCY: int(1, 16),
    // The first retry's delay (then doubling up to an hour, for 24 hours): lowered by tests only.
    WEBHOOK_BACKOFF_BASE_MS: int(1, 1000),
    WEBHOOK_RELAY_BATCH: int(1, 200),
    WEBHOOK_RELAY_IDLE_MS: int(10, 1000),
    // Events waiting per partition while the receiver does not take them (past it the oldest are dropped),
    // and the deliveries a partition's queue holds at once (docs/webhooks.md#when-the-receiver-is-down).
    WEBHOOK_BACKLOG_MAX: int(1, 250_000),
    WEBHOOK_INFLIGHT_MAX: int(1, 1000),
  })
  .refine((env) => (env.WORKER_PARTITIONS ?? []).every((p) => p < partitionsOf(env)), {
    path: ['WORKER_PARTITIONS'],
    message: 'names a partition past QUEUE_PARTITIONS (partitions are numbered from 0)',
  })
  .refine((env) => env.REDIS_CLUSTER_NODES === undefined || env.QUEUE_PREFIX === undefined, {
    path: ['QUEUE_PREFIX'],
    message: "cannot be set with REDIS_CLUSTER_NODES: each partition's prefix carries its own hash tag",
  })
  // The API's commands end at REDIS_TIMEOUT_MS: a WAIT allowed longer would be cut off by it, not answered.
  .refine((env) => env.REDIS_WAIT_REPLICAS === 0 || env.REDIS_WAIT_TIMEOUT_MS < env.REDIS_TIMEOUT_MS, {
    path: ['REDIS_WAIT_TIMEOUT_MS'],
    message: 'must be less than REDIS_TIMEOUT_MS when REDIS_WAIT_REPLICAS is set',
  })
  .refine((env) => env.NODE_ENV !== 'production' || env.FLASHLINE_BREAK.length === 0, {
    path: ['FLASHLINE_BREAK'],
    message: 'must be empty with NODE_ENV=production',
  })
  // A keyed retry must find its order: a key that outlived the order it names would take the retry for
  // a new order. The order expires ORDER_RETENTION_S after its decision, the key IDEMPOTENCY_TTL_S after
  // the order was accepted, so a retention at least the key's lifetime keeps the order for as long as the key.
  .superRefine((env, ctx) => {
    if (env.ORDER_RETENTION_S >= env.IDEMPOTENCY_TTL_S) return;
    ctx.addIssue({
      code: 'custom',
      path: ['ORDER_RETENTION_S'],
      message: `must be at least IDEMPOTENCY_TTL_S (${env.IDEMPOTENCY_TTL_S} s here): an Idempotency-Key that outlives its order would let a retry make a second order`,
    });
  })
  // An unsigned event would let anyone who can reach the shop's URL forge an order's state.
  .refine((env) => env.WEBHOOK_URL === undefined || env.WEBHOOK_SECRET !== undefined, {
    path: ['WEBHOOK_SECRET'],
    message: 'is required when WEBHOOK_URL is set (16+ characters: the key that signs every event)',
  })
  .refine((env) => env.WEBHOOK_SECRET === undefined || env.WEBHOOK_URL !== undefined, {
    path: ['WEBHOOK_URL'],
    message: 'must be set with WEBHOOK_SECRET (without it webhooks are off)',
  })
  // One relay step appends up to WEBHOOK_RELAY_BATCH entries of each of the partition's groups to the backlog
  // before it moves any into the queue: a smaller budget would drop events of a burst with a receiver that answers.
  .superRefine((env, ctx) => {
    const least = Math.ceil(PRODUCT_GROUPS / partitionsOf(env)) * env.WEBHOOK_RELAY_BATCH;
    if (env.WEBHOOK_BACKLOG_MAX < least)
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_BACKLOG_MAX'],
        message: `must be at least ${least} (WEBHOOK_RELAY_BATCH × the product groups of a partition, ${PRODUCT_GROUPS} / QUEUE_PARTITIONS): what one relay step moves`,
      });
  })
  // One user name, one role: the dashboard picks the role from the name that logged in.
  .refine((env) => env.DASHBOARD_VIEWER_USER !== env.DASHBOARD_USER, {
    path: ['DASHBOARD_VIEWER_USER'],
    message: 'must differ from DASHBOARD_USER (the admin)',
  })
  // One way to check a buyer token: with both, which one signs is a guess, and a guess about keys is a hole.
  .refine((env) => env.BUYER_TOKEN_SECRET === undefined || env.BUYER_TOKEN_PUBLIC_KEY === undefined, {
    path: ['BUYER_TOKEN_PUBLIC_KEY'],
    message: 'set BUYER_TOKEN_SECRET (HS256) or BUYER_TOKEN_PUBLIC_KEY (RS256, ES256), not both',
  })
  // An issuer or audience without a key would read as "tokens are checked" while nothing is.
  .refine(
    (env) =>
      (env.BUYER_TOKEN_ISSUER === undefined && env.BUYER_TOKEN_AUDIENCE === undefined) ||
      env.BUYER_TOKEN_SECRET !== undefined ||
      env.BUYER_TOKEN_PUBLIC_KEY !== undefined,
    {
      path: ['BUYER_TOKEN_ISSUER'],
      message: 'BUYER_TOKEN_ISSUER and BUYER_TOKEN_AUDIENCE need BUYER_TOKEN_SECRET or BUYER_TOKEN_PUBLIC_KEY',
    },
  )
  .transform((env) => ({
    env: env.NODE_ENV,
    // The least severe level written; at debug the API also logs every HTTP request.
    logLevel: env.LOG_LEVEL,
    redisUrl: env.REDIS_URL,
    redisTlsCaFile: env.REDIS_TLS_CA_FILE,
    // Set: a Redis Cluster (REDIS_URL is not used); undefined: the single Redis of REDIS_URL.
    redisCluster: env.REDIS_CLUSTER_NODES,
    // Bytes the Redis that `npm start` embeds may hold: past it, with noeviction, Redis refuses writes
    // (POST /orders answers 503, /readyz 503) instead of growing until the kernel kills it.
    redisMaxmemoryBytes: env.REDIS_MAXMEMORY,
    keyPrefix: env.KEY_PREFIX,
    // BullMQ's prefix (of partition 0): one hash tag so every key of the queue stays in one Cluster slot.
    queuePrefix: env.QUEUE_PREFIX ?? queuePrefixOf(env.KEY_PREFIX),
    // The orders queue's partitions, and those this worker consumes (all unless WORKER_PARTITIONS says).
    queuePartitions: partitionsOf(env),
    workerPartitions: env.WORKER_PARTITIONS ?? Array.from({ length: partitionsOf(env) }, (_, p) => p),
    host: env.HOST,
    port: env.PORT,
    dashboardPort: env.DASHBOARD_PORT,
    workerHealthPort: env.WORKER_HEALTH_PORT,
    adminToken: env.ADMIN_TOKEN,
    dashboardUser: env.DASHBOARD_USER,
    dashboardPassword: env.DASHBOARD_PASSWORD,
    // The dashboard's read-only role: sees the board (job data redacted) and the sale panel, changes nothing.
    dashboardViewerUser: env.DASHBOARD_VIEWER_USER,
    dashboardViewerPassword: env.DASHBOARD_VIEWER_PASSWORD,
    // How often the sale panel reads the counters and pushes a snapshot (so its worst staleness).
    salePanelIntervalMs: env.SALE_PANEL_INTERVAL_MS,
    // What one operator may hold of the dashboard through the panel's event streams: a number of streams
    // at once (past it 429), and the bytes a stream may have waiting for a client that does not read
    // (past it the stream is dropped), so slow or stuck panels cannot pile up the dashboard's memory.
    salePanelStreams: { perUser: env.SALE_PANEL_STREAMS_PER_USER, maxBufferBytes: env.SALE_PANEL_MAX_BUFFER_BYTES },
    // Failed dashboard logins counted per client address and per user name in a fixed window; past the
    // address limit every login of that address is refused (429) until the window ends; past the name limit
    // only addresses that already failed that name are (apps/dashboard auth/loginThrottle.ts); 0 = off.
    dashboardLogin: {
      failuresPerIp: env.LOGIN_FAILURES_PER_IP,
      failuresPerUser: env.LOGIN_FAILURES_PER_USER,
      windowMs: env.LOGIN_FAILURE_WINDOW_S * 1000,
    },
    // The dashboard's audit log: admin actions are kept for the retention, refused viewer attempts (the noise
    // an unprivileged user can make) in their own stream of at most about refusedMax entries, one per viewer
    // and action per refusedEveryMs (with a count), so they can never push an admin action out.
    audit: {
      retentionMs: env.AUDIT_RETENTION_DAYS * 24 * 3600 * 1000,
      refusedMax: env.AUDIT_REFUSED_MAX,
      refusedEveryMs: env.AUDIT_REFUSED_EVERY_S * 1000,
    },
    maxQuantity: env.MAX_QUANTITY,
    // How long an API process answers a sold-out product from memory (so how soon it sees a restock); 0 = never.
    // Half the second a restock must be seen within, so that the memory's last moments plus the request
    // that finally asks Redis stay inside that second; one Redis read per 500 ms per product costs nothing.
    soldOutMemoryMs: env.SOLD_OUT_MEMORY_MS,
    // API processes serving one port (node:cluster, apps/api/src/main.ts): one per core by default.
    apiProcesses: env.API_PROCESSES,
    workers: env.WORKERS,
    workerConcurrency: env.WORKER_CONCURRENCY,
    // Most orders of one product that one lock acquisition and one commit decide.
    maxBatch: env.MAX_BATCH,
    // Most orders one API process records with one call per product and enqueues as one job.
    acceptBatch: env.ACCEPT_BATCH,
    // The commit script claims a free product lock and releases it in the same call (one round trip
    // instead of acquire, commit, release); false: every batch takes the lock with a lease first.
    commitClaimsLock: env.COMMIT_CLAIMS_LOCK === 'true',
    jobAttempts: env.JOB_ATTEMPTS,
    jobBackoffMs: env.JOB_BACKOFF_MS,
    lock: { ttlMs: env.LOCK_TTL_MS, maxWaitMs: env.LOCK_WAIT_MS, retryMs: env.LOCK_RETRY_MS },
    redisTimeoutMs: env.REDIS_TIMEOUT_MS,
    // How long a process waits for Redis at start-up before it exits 1 saying what to do; 0 = for ever.
    redisConnectTimeoutMs: env.REDIS_CONNECT_TIMEOUT_S * 1000,
    // `npm start` refuses a Redis it did not start that holds keys not under KEY_PREFIX, unless this is true.
    redisAllowForeignKeys: env.REDIS_ALLOW_FOREIGN_KEYS === 'true',
    // How many replicas must hold an order's record and job before the API answers 202, and a decision
    // before its job completes (Redis's WAIT); 0: the master's word alone, which a failover can lose.
    replication: { replicas: env.REDIS_WAIT_REPLICAS, timeoutMs: env.REDIS_WAIT_TIMEOUT_MS },
    idempotencyTtlS: env.IDEMPOTENCY_TTL_S,
    // A decided order expires this long after its decision: Redis memory stays bounded over many sales.
    orderRetentionMs: env.ORDER_RETENTION_S * 1000,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    // BullMQ's job lock: a worker that dies holding a job is found out (the job "stalls") within this.
    jobLockMs: env.JOB_LOCK_MS,
    maxStalled: env.MAX_STALLED,
    reconcile: { afterMs: env.RECONCILE_AFTER_MS, intervalMs: env.RECONCILE_INTERVAL_MS },
    brokenOnPurpose: env.FLASHLINE_BREAK,
    // Requests per window; 0 turns a limit off. Per IP: every route but the health checks; per user: POST /orders.
    rateLimit: { windowMs: env.RATE_LIMIT_WINDOW_MS, perIp: env.RATE_LIMIT_PER_IP, perUser: env.RATE_LIMIT_PER_USER },
    trustProxy: env.TRUST_PROXY,
    // GET /metrics (API, dashboard) needs `Authorization: Bearer <METRICS_TOKEN>` when set; unset, open,
    // except with NODE_ENV=production: 401 to everyone (metrics/endpoint.ts).
    metricsToken: env.METRICS_TOKEN,
    // With a key, POST /orders and GET /orders/:id need a buyer token and the buyer is its `sub`;
    // undefined: the body's userId is the buyer, which the shop's authenticating gateway must set.
    buyerTokens: buyerTokensOf(env),
    // What one HTTP client may hold of a server (API, dashboard): a client that sends its headers or its
    // body too slowly is cut off, an idle keep-alive connection is closed, and past the connection cap a
    // new connection is refused, so slow or idle clients cannot pile up sockets and memory.
    http: {
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: env.HTTP_MAX_CONNECTIONS,
      // Counted per socket address from its connect, so one address cannot hold every connection with
      // sockets that never finish their headers. Behind a trusted proxy the socket's address is the
      // proxy's, so the cap is off unless set: the proxy must cap per client (docs/operations.md).
      maxConnectionsPerIp:
        env.HTTP_MAX_CONNECTIONS_PER_IP ?? (env.TRUST_PROXY === false ? DEFAULT_MAX_CONNECTIONS_PER_IP : 0),
    },
    // Most GET /orders/:id?wait= requests one API process holds waiting at once (each holds a connection
    // and its request's memory); past it a wait is answered at once, as without `wait`. 0: never wait.
    // Per order and per client address too (0: no cap), so one client cannot take every place.
    orderWaitMax: {
      total: env.ORDER_WAIT_MAX,
      perOrder: env.ORDER_WAIT_MAX_PER_ORDER,
      perIp: env.ORDER_WAIT_MAX_PER_IP,
    },
    // GET /products/:id's Cache-Control max-age: a CDN or the shop's edge may answer the "sold out yet?"
    // polling this long from its copy, then revalidates with the ETag (a 304). 0: no-cache.
    productCacheMaxAgeS: env.PRODUCT_CACHE_MAX_AGE_S,
    // How often each API process publishes its door counts (answers by outcome) to Redis for the sale
    // panel, which sums every process on every machine (metrics/door.ts); 0: never.
    doorPublishMs: env.DOOR_PUBLISH_MS,
    // Every change of an order's state POSTed to the shop, signed (docs/webhooks.md); null: webhooks off
    // (the scripts then write no outbox entries, and the workers run no relay).
    webhooks:
      env.WEBHOOK_URL === undefined || env.WEBHOOK_SECRET === undefined
        ? null
        : webhookSettings({
            url: env.WEBHOOK_URL,
            secret: env.WEBHOOK_SECRET,
            timeoutMs: env.WEBHOOK_TIMEOUT_MS,
            concurrency: env.WEBHOOK_CONCURRENCY,
            backoffBaseMs: env.WEBHOOK_BACKOFF_BASE_MS,
            relayBatch: env.WEBHOOK_RELAY_BATCH,
            relayIdleMs: env.WEBHOOK_RELAY_IDLE_MS,
            backlogMax: env.WEBHOOK_BACKLOG_MAX,
            inFlightMax: env.WEBHOOK_INFLIGHT_MAX,
          }),
  }));

export type Config = z.output<typeof schema>;

/** QUEUE_PARTITIONS, or its default: 1 on a single Redis, 16 on a cluster (spread over its masters). */
function partitionsOf(env: { QUEUE_PARTITIONS?: number | undefined; REDIS_CLUSTER_NODES?: unknown }): number {
  return env.QUEUE_PARTITIONS ?? (env.REDIS_CLUSTER_NODES === undefined ? 1 : 16);
}
export type LockSettings = Config['lock'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError that lists every bad setting at once. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable (`PORT=`) means "not set", as in most shells' .env habits.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  // The variable, never a path into its parsed value (FLASHLINE_BREAK.0): that is the name the user set.
  const lines = parsed.error.issues.map((i) => `  ${String(i.path[0] ?? 'environment')}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}
