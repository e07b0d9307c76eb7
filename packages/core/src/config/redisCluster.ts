import { z } from 'zod';
import { PRODUCT_GROUPS } from '../keys/keys.ts';

/** The seed nodes of a Redis Cluster, with the credentials and TLS every node is reached with. */
export interface RedisClusterSettings {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * `REDIS_CLUSTER_NODES`: comma-separated seed nodes, each `host:port` or a URL as for REDIS_URL
 * (`redis://[user:password@]host:port`, `rediss://` for TLS). Every node of a cluster takes the same
 * credentials and the same TLS: URLs that disagree are refused rather than one silently winning.
 */
export const redisClusterNodes = z.string().transform((list, ctx): RedisClusterSettings => {
  const entries = list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const parsed = entries.map((entry) => {
    try {
      const url = new URL(/^rediss?:\/\//.test(entry) ? entry : `redis://${entry}`);
      const port = Number(url.port);
      if (!url.hostname || !(port >= 1 && port <= 65535) || (url.pathname !== '' && url.pathname !== '/'))
        return undefined;
      return {
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port,
        username: url.username ? decodeURIComponent(url.username) : undefined,
        password: url.password ? decodeURIComponent(url.password) : undefined,
        tls: url.protocol === 'rediss:',
      };
    } catch {
      return undefined;
    }
  });
  if (entries.length === 0 || parsed.some((node) => node === undefined)) {
    ctx.addIssue('a comma-separated list of host:port (or redis://[user:password@]host:port, rediss:// for TLS)');
    return z.NEVER;
  }
  const nodes = parsed as NonNullable<(typeof parsed)[number]>[];
  const first = nodes[0]!;
  if (nodes.some((n) => n.username !== first.username || n.password !== first.password || n.tls !== first.tls)) {
    ctx.addIssue('every node must be given the same credentials and the same scheme (redis:// or rediss://)');
    return z.NEVER;
  }
  return {
    nodes: nodes.map(({ host, port }) => ({ host, port })),
    ...(first.username === undefined ? {} : { username: first.username }),
    ...(first.password === undefined ? {} : { password: first.password }),
    tls: first.tls,
  };
});

/**
 * `QUEUE_PARTITIONS`: how many BullMQ queues the orders are spread over. A product's partition is its
 * group modulo the partitions, so a power of two up to PRODUCT_GROUPS gives every partition as many groups.
 */
export const queuePartitions = z.string().transform((value, ctx) => {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (n >= 1 && n <= PRODUCT_GROUPS && (n & (n - 1)) === 0) return n;
  ctx.addIssue(`a power of two from 1 to ${PRODUCT_GROUPS} (1, 2, 4, ..., ${PRODUCT_GROUPS})`);
  return z.NEVER;
});

/** `WORKER_PARTITIONS`: the partitions a worker consumes, as `0,2,5-7`; unset: every one. */
export const partitionList = z.string().transform((list, ctx) => {
  const partitions = new Set<number>();
  for (const part of list.split(',').map((p) => p.trim())) {
    const [, from, to] = /^(\d{1,2})(?:-(\d{1,2}))?$/.exec(part) ?? [];
    if (from === undefined || (to !== undefined && Number(to) < Number(from))) {
      ctx.addIssue('a comma-separated list of partition numbers or ranges, such as 0,2,5-7');
      return z.NEVER;
    }
    for (let p = Number(from); p <= Number(to ?? from); p++) partitions.add(p);
  }
  return [...partitions].sort((a, b) => a - b);
});
