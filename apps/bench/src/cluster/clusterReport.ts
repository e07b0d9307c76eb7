import type { EndToEndResult } from '../flashline/endToEnd.ts';
import { holds } from '../flashline/invariant.ts';
import { round } from '../measure.ts';
import type { Ratio, Row } from '../report.ts';
import { WIDE_PARTITIONS, type ClusterRuns, type WorkerSide } from './clusterRounds.ts';
import { balanceOf, median } from './nodeStats.ts';

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (share: number) => `${Math.round(share * 100)}%`;
const range = (values: number[]) => `${values.length} rounds, ${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
/** The run whose figure is the median, so that its other figures belong to it. */
const medianRun = <T>(runs: T[], figure: (run: T) => number): T =>
  [...runs].sort((a, b) => figure(a) - figure(b))[Math.floor((runs.length - 1) / 2)]!;
/** Round by round, cluster ÷ single: each pair ran next to each other, so the machine's swings cancel. */
const perRound = <T>(cluster: T[], single: T[], figure: (run: T) => number) =>
  cluster.map((c, i) => figure(c) / figure(single[i]!));

// CPU per decision, in µs: the Redis servers' (the masters summed; the replicas apart) and the workers'.
const redisMicros = (r: WorkerSide) => (sum(r.perNode.map((n) => n.cpuSeconds)) / r.orders) * 1e6;
const replicaMicros = (r: WorkerSide) => (sum(r.perReplica.map((n) => n.cpuSeconds)) / r.orders) * 1e6;
const workerMicros = (r: WorkerSide) =>
  (sum(
    Object.entries(r.cpu)
      .filter(([name]) => name !== 'redis')
      .map(([, share]) => share),
  ) *
    (r.elapsedMs / 1000) *
    1e6) /
  r.orders;
const requestsOf = (r: EndToEndResult) => sum(Object.values(r.statusCounts));
const httpRedisMicros = (r: EndToEndResult) => (sum(r.perNode.map((n) => n.cpuSeconds)) / requestsOf(r)) * 1e6;

const invariants = (runs: { invariant: Parameters<typeof holds>[0] }[]) =>
  runs.every((r) => holds(r.invariant)) ? 'invariant holds in every round' : '**invariant VIOLATED**';

export interface ClusterReport {
  rows: Row[];
  ratios: Ratio[];
  /** The report's section on the cluster, markdown. */
  lines: string[];
}

/** The cluster rounds' rows, targets and section, every figure from `runs`; `command` is markdown. */
export function clusterReport(runs: ClusterRuns, workers: number, command: string): ClusterReport {
  const layout = `${runs.masters} masters + ${runs.replicas} replicas`;
  const workerRow = (scenario: string, what: string, all: WorkerSide[], onCluster: boolean): Row => {
    const r = medianRun(all, (run) => run.decidedPerSecond);
    return {
      scenario,
      what,
      perSecond: r.decidedPerSecond,
      notes: `median of ${range(all.map((run) => run.decidedPerSecond))}; per decision: Redis ${round(redisMicros(r))} µs${onCluster ? ` (the masters summed; replicas ${round(replicaMicros(r))} µs more)` : ''}, workers ${round(workerMicros(r))} µs; ${round(r.ordersPerJob)} orders per job, ${round(r.ordersPerCommit)} per commit; first decision ${r.firstDecisionMs} ms after the resume; ${invariants(all)}`,
    };
  };
  const httpRow = (scenario: string, all: EndToEndResult[], onCluster: boolean): Row => {
    const r = medianRun(all, (run) => run.requestsPerSecond);
    return {
      scenario,
      what: `${fmt(requestsOf(r))} POST /orders for 1 product, ${workers} workers deciding meanwhile`,
      perSecond: r.requestsPerSecond,
      notes: `median of ${range(all.map((run) => run.requestsPerSecond))}; per request: API ${r.apiCpuMicrosPerRequest} µs, Redis ${round(httpRedisMicros(r))} µs${onCluster ? ' (the masters summed)' : ''}, wrk ${r.generatorCpuMicrosPerRequest} µs (${percent(r.cpu.generator ?? NaN)} of a core); ${invariants(all)}`,
    };
  };
  const hotWhat = `${fmt(runs.hot.single[0]?.orders ?? NaN)} orders for 1 product, queue pre-filled`;
  const wideWhat = `${fmt(runs.wide.single[0]?.orders ?? NaN)} orders over 1,000 products (Zipf skew), queue pre-filled`;
  const rows: Row[] = [
    workerRow('Flashline hot product, worker side, single Redis (cluster rounds)', hotWhat, runs.hot.single, false),
    workerRow(`Flashline hot product, worker side, cluster (${layout})`, hotWhat, runs.hot.cluster, true),
    workerRow('Flashline wide sale, worker side, single Redis (cluster rounds)', wideWhat, runs.wide.single, false),
    workerRow(`Flashline wide sale, worker side, cluster (${layout})`, wideWhat, runs.wide.cluster, true),
    httpRow('Flashline hot product through HTTP, single Redis (cluster rounds)', runs.http.single, false),
    httpRow(`Flashline hot product through HTTP, cluster (${layout})`, runs.http.cluster, true),
  ];

  const decided = (r: WorkerSide) => r.decidedPerSecond;
  const hotRatios = perRound(runs.hot.cluster, runs.hot.single, decided);
  const wideRatios = perRound(runs.wide.cluster, runs.wide.single, decided);
  const httpRatios = perRound(runs.http.cluster, runs.http.single, (r) => r.requestsPerSecond);
  const commandBalance = runs.wide.cluster.map((r) => balanceOf(r.perNode.map((n) => n.commands)));
  const cpuBalance = runs.wide.cluster.map((r) => balanceOf(r.perNode.map((n) => n.cpuSeconds)));
  const ratios: Ratio[] = [
    {
      target: 'hot product, worker side: decisions/s on the cluster ÷ single Redis',
      measured: median(hotRatios),
      goal: 0.8,
      kind: 'min',
    },
    {
      target: 'wide sale, worker side: decisions/s on the cluster ÷ single Redis',
      measured: median(wideRatios),
      goal: 0.8,
      kind: 'min',
    },
    {
      target: 'hot product through HTTP: requests/s on the cluster ÷ single Redis',
      measured: median(httpRatios),
      goal: 0.8,
      kind: 'min',
    },
    {
      target: "wide sale on the cluster: the busiest master's commands ÷ the masters' mean",
      measured: median(commandBalance.map((b) => b.maxOverMean)),
      goal: 1.3,
      kind: 'max',
    },
    {
      target: "wide sale on the cluster: the busiest master's Redis CPU ÷ the masters' mean",
      measured: median(cpuBalance.map((b) => b.maxOverMean)),
      goal: 1.3,
      kind: 'max',
    },
  ];

  const wideMedian = medianRun(runs.wide.cluster, decided);
  const wideShares = {
    commands: balanceOf(wideMedian.perNode.map((n) => n.commands)).shares,
    cpu: balanceOf(wideMedian.perNode.map((n) => n.cpuSeconds)).shares,
  };
  const widePartitioned = medianRun(runs.widePartitioned, decided);
  const widePartitionedRatios = perRound(runs.widePartitioned, runs.wide.single, decided);
  const widePartitionedBalance = runs.widePartitioned.map((r) => balanceOf(r.perNode.map((n) => n.commands)));
  const hotMedian = medianRun(runs.hot.cluster, decided);
  const hotShares = balanceOf(hotMedian.perNode.map((n) => n.commands)).shares;
  const cpuLine = (name: string, single: WorkerSide[], cluster: WorkerSide[]) => {
    const s = medianRun(single, decided);
    const c = medianRun(cluster, decided);
    return `| ${name} | ${round(redisMicros(s))} | ${round(redisMicros(c))} | ${round(replicaMicros(c))} | ${round(workerMicros(s))} | ${round(workerMicros(c))} |`;
  };
  const httpSingle = medianRun(runs.http.single, (r) => r.requestsPerSecond);
  const httpCluster = medianRun(runs.http.cluster, (r) => r.requestsPerSecond);

  const partitionRuns: [number, WorkerSide[]][] = [...runs.partitions.entries(), [16, runs.hot.cluster]];
  const partitionLine = (partitions: number, all: WorkerSide[]) => {
    const perProcess = (figure: (n: WorkerSide['connections'][number]) => number) =>
      median(all.map((r) => sum(r.connections.map(figure)) / workers));
    const idle = all.find((r) => r.idle)?.idle;
    return `| ${partitions} | ${round(perProcess((n) => n.connectedClients))} | ${round(perProcess((n) => n.blockedClients))} | ${idle ? round(idle.commandsPerSecond) : 'n/a'} | ${idle ? `${round(idle.cpuShare * 100)}%` : 'n/a'} | ${fmt(median(all.map(decided)))} (${range(all.map(decided))}) |`;
  };
  const singleIdle = runs.hot.single.find((r) => r.idle)?.idle;
  const singleConnections = median(
    runs.hot.single.map((r) => sum(r.connections.map((n) => n.connectedClients)) / workers),
  );

  const lines = [
    `### On a Redis Cluster (${layout})`,
    '',
    `A local cluster of ${layout} (redis-server from PATH, the test-utils harness; AOF on, never rewritten, as the single Redis), on the same cores as everything else. Each round runs every scenario on the single Redis, then on the cluster, next to each other; a ratio is the median of the rounds' ratios. The worker side is timed from resuming the pre-filled queue to the last order's \`decidedAt\` (the drain is read every 250 ms, a call per partition, on both). Command: ${command}.`,
    '',
    '| CPU per decision (µs), worker side | Redis, single | Redis, cluster (masters summed) | cluster replicas | workers, single | workers, cluster |',
    '|---|---|---|---|---|---|',
    cpuLine('hot product', runs.hot.single, runs.hot.cluster),
    cpuLine('wide sale', runs.wide.single, runs.wide.cluster),
    '',
    `- Cluster ÷ single, round by round: hot product ${hotRatios.map((x) => x.toFixed(2)).join(', ')}; wide sale ${wideRatios.map((x) => x.toFixed(2)).join(', ')}; hot product through HTTP ${httpRatios.map((x) => x.toFixed(2)).join(', ')}.`,
    `- Through HTTP, per request: the API ${httpSingle.apiCpuMicrosPerRequest} µs on the single Redis, ${httpCluster.apiCpuMicrosPerRequest} µs on the cluster (its accept batch in steps that each stay in one slot); Redis ${round(httpRedisMicros(httpSingle))} µs and ${round(httpRedisMicros(httpCluster))} µs (masters summed), accept and decision together.`,
    `- The load generator: the worker side has none while timed (the queue is filled before, and the drain read every 250 ms). Through HTTP, wrk spent ${httpSingle.generatorCpuMicrosPerRequest} and ${httpCluster.generatorCpuMicrosPerRequest} µs per request (${percent(httpSingle.cpu.generator ?? NaN)} and ${percent(httpCluster.cpu.generator ?? NaN)} of a core): its own ceiling, one core's worth, is about ${fmt(1e6 / Math.max(httpSingle.generatorCpuMicrosPerRequest, httpCluster.generatorCpuMicrosPerRequest))} requests/s, far above the rates measured.`,
    `- The wide sale over the masters (the median round): commands ${wideShares.commands.map(percent).join(' / ')}, Redis CPU ${wideShares.cpu.map(percent).join(' / ')}; busiest ÷ mean round by round: commands ${commandBalance.map((b) => b.maxOverMean.toFixed(2)).join(', ')}, CPU ${cpuBalance.map((b) => b.maxOverMean.toFixed(2)).join(', ')}.`,
    `- The wide sale with \`QUEUE_PARTITIONS=${WIDE_PARTITIONS}\` instead of 16: ${fmt(widePartitioned.decidedPerSecond)} decisions/s (median), cluster ÷ single ${widePartitionedRatios.map((x) => x.toFixed(2)).join(', ')} round by round; ${round(widePartitioned.ordersPerJob)} orders per job against ${round(wideMedian.ordersPerJob)} with 16 (an accept batch is one job per partition it touches); per decision: Redis ${round(redisMicros(widePartitioned))} µs (masters summed; replicas ${round(replicaMicros(widePartitioned))} µs more), workers ${round(workerMicros(widePartitioned))} µs; busiest master's commands ÷ mean ${widePartitionedBalance.map((b) => b.maxOverMean.toFixed(2)).join(', ')}.`,
    `- The hot product over the masters (the median round): commands ${hotShares.map(percent).join(' / ')}: a product's orders stay in its group's slot, so one master does nearly all of it.`,
    '',
    `What a BullMQ Worker per partition costs: the hot product on the cluster with \`QUEUE_PARTITIONS\` 1, 4 and 16 (the cluster's default), ${workers} worker processes each consuming every partition. Connections and blocked clients: the masters' \`connected_clients\` and \`blocked_clients\` once the workers are ready, less before they started, per worker process (the single Redis: ${round(singleConnections)} per process). Idle: the ${workers} processes after the drain, ${singleIdle ? `${round(singleIdle.commandsPerSecond)} commands/s and ${round(singleIdle.cpuShare * 100)}% of a core on the single Redis` : 'not read on the single Redis'} (first round only, 6 s).`,
    '',
    '| QUEUE_PARTITIONS | connections per worker process (masters) | blocked clients per process | idle: commands/s (masters) | idle: Redis CPU (masters, share of a core) | hot product decisions/s |',
    '|---|---|---|---|---|---|',
    ...partitionRuns.sort(([a], [b]) => a - b).map(([partitions, all]) => partitionLine(partitions, all)),
    '',
    `Hot product decisions/s by partitions, round by round against 1 partition (the runs of a round are next to each other): ${partitionRuns
      .filter(([partitions]) => partitions !== 1)
      .map(
        ([partitions, all]) =>
          `${partitions} partitions ${perRound(all, runs.partitions.get(1) ?? [], decided)
            .map((x) => x.toFixed(2))
            .join(', ')}`,
      )
      .join('; ')}.`,
  ];
  return { rows, ratios, lines };
}
