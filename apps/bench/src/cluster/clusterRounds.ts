import { startRedisCluster } from '@flashline/test-utils';
import { measureEndToEnd, type EndToEndResult } from '../flashline/endToEnd.ts';
import type { Invariant } from '../flashline/invariant.ts';
import { measureWorkerSide, type ClusterTarget, type WorkerSideOptions } from '../flashline/workerSide.ts';
import { RedisNodes } from './redisNodes.ts';

export type WorkerSide = Awaited<ReturnType<typeof measureWorkerSide>>;

/** The partition counts the blocking-connection rows compare on the cluster (16 is the cluster's default). */
export const SWEPT_PARTITIONS = [1, 4] as const;
/**
 * The wide sale also with 4 partitions: an accept batch becomes one job per partition, so 16 partitions
 * cut a wide sale's 64-order jobs into about 16 of 4 orders; fewer partitions keep them larger.
 */
export const WIDE_PARTITIONS = 4;
/** How long the idle workers are read, in the first round: past BullMQ's drainDelay (5 s), so a blocking wait ends in it. */
const IDLE_MS = 6000;
// The cluster bench reads the drain this often (a call per partition each time) and times each run by
// its order records instead, so the polling costs both sides the same and barely shows in the commands.
const POLL_MS = 250;

export interface ClusterSettings {
  singleUrl: string;
  /** Empties the single Redis (the bench's own server). */
  flushSingle: () => Promise<void>;
  rounds: number;
  workers: number;
  /** The worker-side runs' env (concurrency, batch). */
  env: Record<string, string>;
  httpConcurrency: number;
  hot: Pick<WorkerSideOptions, 'products' | 'orderProducts'>;
  wide: Pick<WorkerSideOptions, 'products' | 'orderProducts'>;
  progress: (label: string) => void;
}

/** Every round of every scenario, single Redis and cluster side by side. */
export interface ClusterRuns {
  hot: { single: WorkerSide[]; cluster: WorkerSide[] };
  wide: { single: WorkerSide[]; cluster: WorkerSide[] };
  http: { single: EndToEndResult[]; cluster: EndToEndResult[] };
  /** The hot product on the cluster by QUEUE_PARTITIONS (16: the `hot.cluster` rounds). */
  partitions: Map<number, WorkerSide[]>;
  /** The wide sale on the cluster with WIDE_PARTITIONS. */
  widePartitioned: WorkerSide[];
  masters: number;
  replicas: number;
  checks: { scenario: string; check: Invariant }[];
}

/** The steps' labels, in order, for the bench's progress bar. */
export const clusterSteps = (rounds: number) => [
  'cluster start',
  ...Array.from({ length: rounds }, (_, r) => `cluster round ${r + 1}/${rounds}`),
];

/**
 * The worker-side hot product and wide sale and the HTTP hot product, each on the single Redis then on a
 * local 3-master cluster (3 replicas, the same AOF settings as the single Redis), round by round; and the
 * hot product on the cluster with 1 and 4 partitions beside its default 16. Every run on emptied servers.
 */
export async function runClusterRounds(settings: ClusterSettings): Promise<ClusterRuns> {
  settings.progress('cluster start');
  // Node timeout at Redis's default (15 s): under a loaded machine's stalls, 2 s could fail a master over mid-run.
  const cluster = await startRedisCluster({
    masters: 3,
    replicasPerMaster: 1,
    appendonly: true,
    aofRewrites: false,
    nodeTimeoutMs: 15_000,
  });
  const urlOf = (node: { host: string; port: number }) => `redis://${node.host}:${node.port}`;
  const masters = await cluster.masters();
  const replicas = (await Promise.all(masters.map((m) => cluster.replicasOf(m)))).flat();
  const target: ClusterTarget = {
    seedNodes: cluster.seedNodes,
    masterUrls: masters.map(urlOf),
    replicaUrls: replicas.map(urlOf),
  };
  const masterNodes = new RedisNodes(target.masterUrls);
  const runs: ClusterRuns = {
    hot: { single: [], cluster: [] },
    wide: { single: [], cluster: [] },
    http: { single: [], cluster: [] },
    partitions: new Map(SWEPT_PARTITIONS.map((p) => [p, []])),
    widePartitioned: [],
    masters: masters.length,
    replicas: replicas.length,
    checks: [],
  };
  const kept = <R extends { invariant: Invariant }>(scenario: string, r: R) => {
    runs.checks.push({ scenario, check: r.invariant });
    return r;
  };
  const onSingle = async <R extends { invariant: Invariant }>(scenario: string, measure: () => Promise<R>) => {
    await settings.flushSingle();
    return kept(`${scenario}, single Redis`, await measure());
  };
  const onCluster = async <R extends { invariant: Invariant }>(scenario: string, measure: () => Promise<R>) => {
    await masterNodes.flush();
    return kept(`${scenario}, cluster`, await measure());
  };
  const single = { redisUrl: settings.singleUrl };
  const onTheCluster = { redisUrl: settings.singleUrl, cluster: target };
  const workerSide = (keyPrefix: string, sale: ClusterSettings['hot']) => ({
    keyPrefix,
    ...sale,
    workers: settings.workers,
    env: settings.env,
    pollMs: POLL_MS,
  });
  try {
    for (let r = 0; r < settings.rounds; r++) {
      settings.progress(`cluster round ${r + 1}/${settings.rounds}`);
      const idle = r === 0 ? { idleMs: IDLE_MS } : {};
      runs.hot.single.push(
        await onSingle('Hot product, worker side', () =>
          measureWorkerSide({ ...single, ...workerSide(`ch-${r}`, settings.hot), ...idle }),
        ),
      );
      runs.hot.cluster.push(
        await onCluster('Hot product, worker side', () =>
          measureWorkerSide({ ...onTheCluster, ...workerSide(`ch-${r}`, settings.hot), ...idle }),
        ),
      );
      for (const partitions of SWEPT_PARTITIONS) {
        const run = workerSide(`cp${partitions}-${r}`, settings.hot);
        runs.partitions.get(partitions)!.push(
          await onCluster(`Hot product, worker side, ${partitions} partitions`, () =>
            measureWorkerSide({
              ...onTheCluster,
              ...run,
              env: { ...run.env, QUEUE_PARTITIONS: String(partitions) },
              ...idle,
            }),
          ),
        );
      }
      runs.wide.single.push(
        await onSingle('Wide sale, worker side', () =>
          measureWorkerSide({ ...single, ...workerSide(`cw-${r}`, settings.wide) }),
        ),
      );
      runs.wide.cluster.push(
        await onCluster('Wide sale, worker side', () =>
          measureWorkerSide({ ...onTheCluster, ...workerSide(`cw-${r}`, settings.wide) }),
        ),
      );
      const widePartitioned = workerSide(`cwp-${r}`, settings.wide);
      runs.widePartitioned.push(
        await onCluster(`Wide sale, worker side, ${WIDE_PARTITIONS} partitions`, () =>
          measureWorkerSide({
            ...onTheCluster,
            ...widePartitioned,
            env: { ...widePartitioned.env, QUEUE_PARTITIONS: String(WIDE_PARTITIONS) },
          }),
        ),
      );
      const http = {
        keyPrefix: `chttp-${r}`,
        products: settings.hot.products,
        productOf: () => 0,
        requests: settings.hot.orderProducts.length,
        concurrency: settings.httpConcurrency,
        workers: settings.workers,
        env: settings.env,
      };
      runs.http.single.push(await onSingle('Hot product, through HTTP', () => measureEndToEnd({ ...single, ...http })));
      runs.http.cluster.push(
        await onCluster('Hot product, through HTTP', () => measureEndToEnd({ ...onTheCluster, ...http })),
      );
    }
    return runs;
  } finally {
    masterNodes.close();
    await cluster.stop();
  }
}
