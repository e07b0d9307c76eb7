import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '@flashline/core';
import {
  addressOf,
  askNode,
  clusterNodesOf,
  createCluster,
  parseInfo,
  waitUntilClusterHealthy,
  type NodeAddress,
  type NodeRole,
} from '@flashline/test-utils';
import {
  INSTALL_REDIS,
  NoRedisError,
  answers,
  embeddedServerArgs,
  findOnPath,
  spawnEmbeddedServer,
  type EmbeddedServer,
} from './embeddedRedis.ts';

export interface ClusterPorts {
  port: number;
  /** The cluster bus, where the nodes gossip. */
  busPort: number;
}

/** `npm run start:cluster`'s nodes: 3 masters and 3 replicas on 7000-7005, buses on Redis's default port + 10000. */
const LOCAL_CLUSTER_PORTS: readonly ClusterPorts[] = [7000, 7001, 7002, 7003, 7004, 7005].map((port) => ({
  port,
  busPort: port + 10_000,
}));

export interface LocalClusterOptions {
  /** `.data/cluster`: each node's AOF, nodes.conf and redis.log in `<dataDir>/<port>/`. */
  dataDir: string;
  /** 7000-7005 by default. */
  nodes?: readonly ClusterPorts[];
  /** 1 by default: 3 masters with a replica each. */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`, 5 s by default: a master silent this long is failed over to its replica. */
  nodeTimeoutMs?: number;
  /** REDIS_MAXMEMORY, in bytes, for each node. */
  maxmemoryBytes: number;
  /** The PATH to look for `redis-server` and `redis-cli` on. */
  path: string | undefined;
  log: Logger;
  /** How long a cluster found under `dataDir` may take to come back. */
  reuseWithinMs?: number;
}

export interface LocalCluster {
  /** `127.0.0.1:7000,...`, for REDIS_CLUSTER_NODES. */
  seedNodes: string;
  /** created afresh; reused from the nodes' files under the data dir; running already (left running on stop). */
  origin: 'created' | 'reused' | 'running';
  nodes: Array<{ port: number; id: string; role: NodeRole; replicaOf?: number }>;
  /** SIGTERM to the nodes this process started (each flushes its AOF), and their exits. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/**
 * A Redis Cluster for the stack on this machine, from the redis-server on PATH, each node set up as the
 * embedded Redis is (durable, bounded, never evicting). Its nodes keep their cluster config (nodes.conf)
 * and data under the data dir, so the next start brings the same cluster back with its data; only nodes
 * that know nothing (a first start) are joined with `redis-cli --cluster create`. A cluster that already
 * answers on the ports is used as it is, as `npm start` uses a Redis that answers.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const cluster = await bringUp(options);
  const { origin, seedNodes, nodes } = cluster;
  options.log('info', 'redis cluster ready', { origin, dataDir: resolve(options.dataDir), seedNodes, nodes });
  return cluster;
}

async function bringUp(options: LocalClusterOptions): Promise<LocalCluster> {
  const nodes = options.nodes ?? LOCAL_CLUSTER_PORTS;
  const addresses = nodes.map(({ port }) => ({ host: HOST, port }));
  const answering = await Promise.all(addresses.map((address) => answers(`redis://${addressOf(address)}`)));
  if (answering.every(Boolean)) {
    await waitUntilClusterHealthy(addresses, options.reuseWithinMs ?? 30_000);
    return clusterOf(addresses, 'running', []);
  }
  if (answering.some(Boolean)) {
    const taken = addresses.filter((_, i) => answering[i]).map(addressOf);
    throw new NoRedisError(`${taken.join(', ')} already answer, the other cluster ports do not: stop what runs there`);
  }
  const serverBinary = findOnPath('redis-server', options.path);
  const cliBinary = findOnPath('redis-cli', options.path);
  if (!serverBinary || !cliBinary)
    throw new NoRedisError(`a local cluster needs redis-server and redis-cli on PATH.\n  ${INSTALL_REDIS}.`);

  const started = await Promise.allSettled(nodes.map((ports) => startNode(serverBinary, ports, options)));
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    if (await knowNothing(addresses)) {
      await createCluster(addresses, options.replicasPerMaster ?? 1, cliBinary);
      await waitUntilClusterHealthy(addresses, 20_000);
      return await clusterOf(addresses, 'created', servers);
    }
    await waitUntilBack(addresses, options);
    return await clusterOf(addresses, 'reused', servers);
  } catch (error) {
    await stopAll(servers);
    throw error;
  }
}

function startNode(binary: string, ports: ClusterPorts, options: LocalClusterOptions): Promise<EmbeddedServer> {
  const dir = resolve(options.dataDir, String(ports.port));
  mkdirSync(dir, { recursive: true });
  const args = [
    ...embeddedServerArgs({ host: HOST, port: String(ports.port), dir, maxmemoryBytes: options.maxmemoryBytes }),
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, 'nodes.conf'),
    '--cluster-port',
    String(ports.busPort),
    '--cluster-node-timeout',
    String(options.nodeTimeoutMs ?? 5000),
    // A replica's first sync at once; by default a master waits 5 s for more replicas to sync with at the same time.
    '--repl-diskless-sync-delay',
    '0',
  ];
  return spawnEmbeddedServer(binary, args, `redis://${HOST}:${ports.port}`, dir);
}

/** Nodes started without a nodes.conf: each knows only itself, and no slot is assigned. */
async function knowNothing(addresses: NodeAddress[]): Promise<boolean> {
  const infos = await Promise.all(
    addresses.map(async (address) => parseInfo(String(await askNode(address, ['CLUSTER', 'INFO'])))),
  );
  return infos.every((info) => info.cluster_known_nodes === '1' && info.cluster_slots_assigned === '0');
}

async function waitUntilBack(addresses: NodeAddress[], options: LocalClusterOptions): Promise<void> {
  try {
    await waitUntilClusterHealthy(addresses, options.reuseWithinMs ?? 30_000);
  } catch (error) {
    throw new NoRedisError(
      `the cluster under ${resolve(options.dataDir)} did not come back: ${error instanceof Error ? error.message : String(error)}\n` +
        '  See redis.log in each node dir, or remove the dir to start a new, empty cluster.',
    );
  }
}

async function clusterOf(
  addresses: NodeAddress[],
  origin: LocalCluster['origin'],
  servers: EmbeddedServer[],
): Promise<LocalCluster> {
  const views = await clusterNodesOf(addresses[0]!);
  const portOf = (id: string | undefined) => views.find((view) => view.id === id)?.port;
  return {
    seedNodes: addresses.map(addressOf).join(','),
    origin,
    nodes: views
      .map(({ port, id, role, masterId }) => ({ port, id, role, ...(masterId ? { replicaOf: portOf(masterId) } : {}) }))
      .sort((a, b) => a.port - b.port),
    stop: () => stopAll(servers),
  };
}

async function stopAll(servers: EmbeddedServer[]): Promise<void> {
  await Promise.all(servers.map((server) => server.stop()));
}
