import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCluster } from './clusterCreate.ts';
import { waitUntilClusterHealthy } from './clusterHealth.ts';
import {
  addressOf,
  askNode,
  clusterNodesOf,
  servesSlot,
  type NodeAddress,
  type NodeRole,
  type NodeView,
} from './clusterNodes.ts';
import { moveSlot } from './clusterReshard.ts';
import { freePorts } from './ports.ts';
import { startRedis, type TestRedis } from './redisServer.ts';

export interface ClusterNode extends NodeAddress {
  id: string;
  /** In `nodes`, the role it was given at creation; from `masters()` and `replicasOf()`, the current one. */
  role: NodeRole;
}

export type FailoverMode = 'default' | 'takeover' | 'force';

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a node may not answer before it counts as down (and a replica takes over). */
  nodeTimeoutMs?: number;
  /** Each node's `maxmemory` (`8mb`); none by default. */
  maxmemory?: string;
  appendonly?: boolean;
  /** False: never rewrite the AOF on its own (as the bench's single Redis: a rewrite forks and takes a core for a while). */
  aofRewrites?: boolean;
  /** Where the nodes' own data dirs are made (a fresh one each, removed by `stop`); the system's temp dir by default. */
  dir?: string;
}

export interface RedisCluster {
  /** Every node, as created: masters first. */
  nodes: readonly ClusterNode[];
  /** `127.0.0.1:p1,127.0.0.1:p2,...`: every node, as REDIS_CLUSTER_NODES takes them. */
  seedNodes: string;
  /** The masters serving slots now, as CLUSTER NODES on a running node says. */
  masters(): Promise<ClusterNode[]>;
  /** Its replicas now, except any the cluster has agreed is down. */
  replicasOf(master: ClusterNode): Promise<ClusterNode[]>;
  /** SIGKILL: a crash. The node's data dir stays, for `restart`. */
  kill(node: ClusterNode): Promise<void>;
  /** SIGSTOP / SIGCONT: a node that holds its connections and answers nothing, as a frozen machine. */
  pause(node: ClusterNode): void;
  resume(node: ClusterNode): void;
  /**
   * SIGKILL if running, then the same port, data dir and nodes.conf: the node rejoins (a failed-over
   * master as a replica of its successor); `waitUntilHealthy` tells when it has.
   */
  restart(node: ClusterNode): Promise<void>;
  /** CLUSTER FAILOVER on a replica; resolves once it is a master and the cluster is healthy again. */
  failover(replica: ClusterNode, mode?: FailoverMode): Promise<void>;
  /** Resolves once every running node agrees all is well (see clusterProblems); rejects with what is not, after `timeoutMs`. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  slotOfKey(key: string): number;
  /** The master serving `slot` now. */
  nodeForSlot(slot: number): Promise<ClusterNode>;
  /** A live reshard: each slot moved to `toMaster` with its keys while clients keep using it; resolves once every running node agrees. */
  moveSlots(slots: number[], toMaster: ClusterNode): Promise<void>;
  /** Kills every node and removes their data dirs. */
  stop(): Promise<void>;
}

interface Member {
  node: ClusterNode;
  server: TestRedis;
  state: 'running' | 'paused' | 'down';
}

const HEALTHY_WITHIN_MS = 20_000;

// ioredis's own slot function (CRC16 of the hash tag), a CommonJS module without types: loaded and typed here,
// since a declaration file would not reach the projects that compile this file from source (core's tests).
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/**
 * A real Redis Cluster of `redis-server --cluster-enabled yes` processes from PATH on free ports, joined
 * by `redis-cli --cluster create`, for tests that crash, freeze, fail over and reshard it. It takes a few
 * seconds: a master will not call the cluster ok in its first 2 s (Redis's writable delay after a start),
 * and redis-cli checks once a second that the nodes agree.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (masters < 3) throw new Error(`masters: ${masters}; redis-cli --cluster create needs at least 3`);
  const count = masters * (1 + replicasPerMaster);
  if (options.dir) mkdirSync(options.dir, { recursive: true });
  // The bus port is picked too: the default, port + 10000, may be taken or past 65535.
  const ports = await freePorts(2 * count);
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => startNode(options, ports[2 * i]!, ports[2 * i + 1]!)),
  );
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const addresses = servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
    await createCluster(addresses, replicasPerMaster);
    await waitUntilClusterHealthy(addresses, HEALTHY_WITHIN_MS);
    const views = await clusterNodesOf(addresses[0]!);
    const members = servers
      .map((server): Member => {
        const view = views.find((v) => v.port === server.port);
        if (!view) throw new Error(`node ${server.port} is not in its own cluster`);
        return { node: nodeOf(view), server, state: 'running' };
      })
      .sort((a, b) => (a.node.role === b.node.role ? a.node.port - b.node.port : a.node.role === 'master' ? -1 : 1));
    return controlOf(members);
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
}

function startNode(options: RedisClusterOptions, port: number, busPort: number): Promise<TestRedis> {
  return startRedis({
    port,
    appendonly: options.appendonly ?? false,
    ...(options.aofRewrites === undefined ? {} : { aofRewrites: options.aofRewrites }),
    maxmemory: options.maxmemory,
    parentDir: options.dir,
    args: [
      '--cluster-enabled',
      'yes',
      // Relative to the node's own --dir.
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-port',
      String(busPort),
      '--cluster-node-timeout',
      String(options.nodeTimeoutMs ?? 2000),
      // A replica's first sync at once; by default a master waits 5 s for more replicas to sync with at the same time.
      '--repl-diskless-sync-delay',
      '0',
    ],
  });
}

function nodeOf(view: NodeView): ClusterNode {
  return { host: view.host, port: view.port, id: view.id, role: view.role };
}

function controlOf(members: Member[]): RedisCluster {
  const memberOf = (node: ClusterNode): Member => {
    const member = members.find((m) => m.node.id === node.id);
    if (!member) throw new Error(`${addressOf(node)} (${node.id}) is not a node of this cluster`);
    return member;
  };
  const running = () => members.filter((m) => m.state === 'running').map((m) => m.node);
  const currentViews = async (): Promise<NodeView[]> => {
    const [asked] = running();
    if (!asked) throw new Error('no node of the cluster is running');
    return clusterNodesOf(asked);
  };
  const masterViews = async () =>
    (await currentViews()).filter((view) => view.role === 'master' && !view.failed && view.slots.length > 0);
  const waitUntilHealthy = (timeoutMs = HEALTHY_WITHIN_MS) => waitUntilClusterHealthy(running(), timeoutMs);
  const nodeForSlot = async (slot: number) => {
    const owner = (await masterViews()).find((view) => servesSlot(view, slot));
    if (!owner) throw new Error(`no master serves slot ${slot}`);
    return nodeOf(owner);
  };
  const kill = async (node: ClusterNode) => {
    const member = memberOf(node);
    await member.server.kill();
    member.state = 'down';
  };

  return {
    nodes: members.map((m) => m.node),
    seedNodes: members.map((m) => addressOf(m.node)).join(','),
    masters: async () => (await masterViews()).map(nodeOf),
    async replicasOf(master) {
      const views = await currentViews();
      return views.filter((view) => view.masterId === master.id && !view.failed).map(nodeOf);
    },
    kill,
    pause(node) {
      const member = memberOf(node);
      member.server.pause();
      member.state = 'paused';
    },
    resume(node) {
      const member = memberOf(node);
      member.server.resume();
      member.state = 'running';
    },
    async restart(node) {
      await kill(node);
      await memberOf(node).server.start();
      memberOf(node).state = 'running';
    },
    async failover(replica, mode = 'default') {
      await askNode(replica, ['CLUSTER', 'FAILOVER', ...(mode === 'default' ? [] : [mode.toUpperCase()])]);
      await waitUntilMaster(replica, HEALTHY_WITHIN_MS);
      await waitUntilHealthy();
    },
    waitUntilHealthy,
    slotOfKey: (key) => calculateSlot(key),
    nodeForSlot,
    async moveSlots(slots, toMaster) {
      for (const slot of slots) {
        const source = await nodeForSlot(slot);
        if (source.id === toMaster.id) continue;
        await moveSlot(slot, source, toMaster, (await masterViews()).map(nodeOf));
      }
      await waitUntilHealthy();
      for (const slot of slots) {
        const owner = await nodeForSlot(slot);
        if (owner.id !== toMaster.id) throw new Error(`slot ${slot} is still served by ${addressOf(owner)}`);
      }
    },
    async stop() {
      await Promise.all(members.map((m) => m.server.stop()));
    },
  };
}

async function waitUntilMaster(node: ClusterNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const role = (await askNode(node, ['ROLE'])) as [string, ...unknown[]];
    if (role[0] === 'master') return;
    if (Date.now() > deadline) throw new Error(`${addressOf(node)} was not a master within ${timeoutMs} ms`);
    await sleep(50);
  }
}
