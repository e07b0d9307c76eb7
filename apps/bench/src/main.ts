// `npm run bench`: Flashline against the alternatives a user would pick, side by side in one run on
// one private Redis. Writes docs/benchmarks.md and docs/benchmarks.svg.
// Sizes: BENCH_ORDERS (20,000 per scenario), BENCH_SEED_ORDERS (5,000), BENCH_STORM (50,000),
// BENCH_SOAK (200,000; 0 skips it).
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig } from '@flashline/core';
import { startRedis } from '@flashline/test-utils';
import {
  bullmqCeilingProcesses,
  httpCeiling,
  runSeedAlgorithm,
  SEED_ALGORITHMS,
  type HttpCeilingResult,
} from './baselines/index.ts';
import { measureEndToEnd, type EndToEndOptions, type EndToEndResult } from './flashline/endToEnd.ts';
import { holds, type Invariant } from './flashline/invariant.ts';
import { measureWorkerSide, type WorkerSideOptions } from './flashline/workerSide.ts';
import { measureCommitShapes, type CommitShape } from './flashline/commitShape.ts';
import { holdsSection, holdsSteps } from './flashline/holdsSection.ts';
import { clusterReport } from './cluster/clusterReport.ts';
import { clusterSteps, runClusterRounds } from './cluster/clusterRounds.ts';
import { round } from './measure.ts';
import { measureWaiting, waitReport } from './wait/waitBench.ts';
import { ratioLines, rowLines, writeReport, type Ratio, type Row } from './report.ts';

// `npm run bench -- --only http` (or `cluster`, `holds`, `wait`): those scenarios alone, printed, docs/benchmarks.md left as it is.
const only = process.argv.indexOf('--only');
const ONLY_HTTP = only !== -1 && process.argv[only + 1] === 'http';
const ONLY_CLUSTER = only !== -1 && process.argv[only + 1] === 'cluster';
const ONLY_HOLDS = only !== -1 && process.argv[only + 1] === 'holds';
const ONLY_WAIT = only !== -1 && process.argv[only + 1] === 'wait';
if (only !== -1 && !ONLY_HTTP && !ONLY_CLUSTER && !ONLY_HOLDS && !ONLY_WAIT)
  throw new Error('--only takes one value: http, cluster, holds or wait');
const ORDERS = Number(process.env.BENCH_ORDERS ?? 20_000);
const STORM = Number(process.env.BENCH_STORM ?? 50_000);
const SOAK = Number(process.env.BENCH_SOAK ?? 200_000);
// Orders the soak's workers decide before the measured run: a worker's heap grows to its working
// size over its first ~120,000 orders (measured: RSS floor 116 → 178 MiB, then flat within 170–189
// MiB to 400,000), and a run measured from the start on a fast machine ends inside that growth.
const SOAK_WARMUP = Number(process.env.BENCH_SOAK_WARMUP ?? SOAK);
const STOCK = ORDERS / 2;
// Buyers waiting at once for their orders (GET ?wait=), against as many polling once a second.
const WAIT_BUYERS = Number(process.env.BENCH_WAIT_BUYERS ?? 10_000);
// The seed algorithms run fewer orders: the WATCH loop and the spin lock decide a few hundred a second.
const SEED_ORDERS = Math.min(ORDERS, Number(process.env.BENCH_SEED_ORDERS ?? 5000));
const WORKERS = 2;
const CONCURRENCY = 64;
const HTTP_CONCURRENCY = 64;
const docs = (name: string) => fileURLToPath(new URL(`../../../docs/${name}`, import.meta.url));

// The BullMQ ceiling and the worker-side scenarios last about a second each: they run ROUNDS times,
// interleaved (ceiling, hot, ..., ceiling, hot, ...), and the report takes each one's median round.
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
// The wide sale's orders also over fewer and more products than its 1,000.
const SPREAD_PRODUCTS = [100, 10_000];
const spreadScenario = (count: number) =>
  `Flashline wide sale over ${count.toLocaleString('en-US')} products, worker side`;
const WORKER_SIDE = [
  'BullMQ ceiling',
  'Flashline hot product, worker side',
  'Flashline hot product, worker side, one job per order',
  'Flashline hot product, worker side, leased locks',
  'Flashline wide sale, worker side',
  'Flashline wide sale, worker side, leased locks',
  'Flashline hot product, worker side, one worker process',
  'Flashline wide sale, worker side, one worker process',
  ...SPREAD_PRODUCTS.map(spreadScenario),
  'Flashline sold-out orders, worker side',
];
const HTTP_SIDE = [
  'HTTP ceilings',
  'Flashline hot product, through HTTP',
  'Flashline hot product, accept path alone',
  'Flashline wide sale, through HTTP',
  'Flashline sold-out storm, through HTTP',
  'Flashline hot product, accept path alone, production defaults',
  'Flashline sold-out storm, through HTTP, production defaults',
];
const inRounds = (names: string[]) =>
  Array.from({ length: ROUNDS }, (_, r) => names.map((name) => `${name} (round ${r + 1}/${ROUNDS})`)).flat();
const WAIT_STEP = `wait: ${WAIT_BUYERS.toLocaleString('en-US')} buyers waiting, then polling`;
const steps = ONLY_HTTP
  ? inRounds(HTTP_SIDE)
  : ONLY_WAIT
    ? [WAIT_STEP]
    : ONLY_CLUSTER
      ? clusterSteps(ROUNDS)
      : ONLY_HOLDS
        ? holdsSteps(ROUNDS)
        : [
            ...SEED_ALGORITHMS.map((a) => `seed: ${a}`),
            ...inRounds(WORKER_SIDE),
            'commit shapes',
            ...inRounds(HTTP_SIDE),
            ...clusterSteps(ROUNDS),
            ...holdsSteps(ROUNDS),
            ...(SOAK > 0 ? ['Flashline soak (worker memory)'] : []),
            WAIT_STEP,
          ];
let step = 0;
const startedAt = performance.now();
// Read now: at the end the 1-minute load average is mostly the bench's own.
const LOAD_BEFORE = loadavg()[0]?.toFixed(2);
function progress(label: string): void {
  step += 1;
  const done = Math.round((step / steps.length) * 24);
  const elapsed = Math.round((performance.now() - startedAt) / 1000);
  process.stderr.write(
    `[${'#'.repeat(done)}${'.'.repeat(24 - done)}] ${step}/${steps.length} ${label} (${elapsed} s)\n`,
  );
}

/** Orders over 1,000 products with a Zipf-like skew: a few hot products, a long cold tail. */
function skewed(products: number, orders: number): number[] {
  const weights = Array.from({ length: products }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  weights.reduce((sum, w, i) => (cumulative[i] = sum + w / total), 0);
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: orders }, () => {
    const r = next();
    const index = cumulative.findIndex((c) => c >= r);
    return index === -1 ? products - 1 : index;
  });
}

/** The run whose figure is the median (the lower middle of an even count), so its other figures belong to it. */
function medianRun<T>(runs: T[], figure: (run: T) => number): T {
  return [...runs].sort((a, b) => figure(a) - figure(b))[Math.floor((runs.length - 1) / 2)]!;
}

const percent = (share: number) => `${Math.round(share * 100)}%`;
const microsPerRequest = (cpuMs: number, load: { total: number }) => Math.round((cpuMs * 1000) / load.total);
const cpuText = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .map(([name, share]) => `${name} ${percent(share)}`)
    .join(', ');
const invariantText = (check: Invariant) =>
  `${holds(check) ? 'holds' : '**VIOLATED**'} (oversold ${check.oversold}, lost ${check.lost}, duplicates ${check.duplicates}, conservation errors ${check.conservationErrors})`;
const statusText = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([status, n]) => `${n.toLocaleString('en-US')}× ${status}`)
    .join(', ');

// AOF on, as in production (every write appended, fsync every second), but never rewritten during
// the run: a rewrite forks Redis and takes one of the cores for a second or more, at whichever
// scenario happens to be running (about one per 80,000 orders here).
const redis = await startRedis({ appendonly: true, aofRewrites: false });
// Every scenario starts on an empty Redis (this private server's FLUSHALL): a scenario run late in
// the bench would otherwise find a keyspace hundreds of thousands of keys larger than one run early.
const admin = new Redis(redis.url);
const fresh = async () => void (await admin.flushall());
/** One round of a Flashline scenario: on an emptied Redis, under its own key prefix, its invariant check kept. */
async function inRound<O extends { keyPrefix: string }, R extends { invariant: Invariant }>(
  scenario: string,
  round: number,
  run: O,
  measure: (run: O) => Promise<R>,
): Promise<R> {
  progress(`${scenario} (round ${round + 1}/${ROUNDS})`);
  await fresh();
  const r = await measure({ ...run, keyPrefix: `${run.keyPrefix}-${round}` });
  checks.push({ scenario: `${scenario}, round ${round + 1}`, check: r.invariant });
  return r;
}
const rows: Row[] = [];
const details: string[] = [];
const checks: { scenario: string; check: Invariant }[] = [];
try {
  const env = { WORKER_CONCURRENCY: String(CONCURRENCY), MAX_BATCH: String(CONCURRENCY) };
  const wideProducts = Array.from({ length: 1000 }, (_, i) => ({ productId: `w${i}`, stock: Math.ceil(STOCK / 1000) }));
  const wideOrders = skewed(1000, ORDERS);
  const spread = (values: number[]) =>
    `median of ${values.length} rounds (${Math.round(Math.min(...values)).toLocaleString('en-US')}–${Math.round(Math.max(...values)).toLocaleString('en-US')})`;
  const httpRows: Row[] = [];
  // 7. The hot product and the wide sale (worker side) and the hot product through HTTP on a local
  // 3-master Redis Cluster beside this single Redis, round by round, and the cost of a BullMQ Worker per partition.
  const clusterSection = async () => {
    const runs = await runClusterRounds({
      singleUrl: redis.url,
      flushSingle: fresh,
      rounds: ROUNDS,
      workers: WORKERS,
      env,
      httpConcurrency: HTTP_CONCURRENCY,
      hot: { products: [{ productId: 'hot', stock: STOCK }], orderProducts: new Array<number>(ORDERS).fill(0) },
      wide: { products: wideProducts, orderProducts: wideOrders },
      progress,
    });
    checks.push(...runs.checks);
    return clusterReport(
      runs,
      WORKERS,
      ONLY_CLUSTER
        ? '`npm run bench -- --only cluster`'
        : '`npm run bench` (this section alone: `npm run bench -- --only cluster`)',
    );
  };
  // 8. Buyers waiting for their orders' decisions (GET ?wait=30) against as many polling once a second.
  const waitSection = async () => {
    progress(WAIT_STEP);
    const result = await measureWaiting({
      redisUrl: redis.url,
      admin,
      buyers: WAIT_BUYERS,
      workers: WORKERS,
      idleMs: 5000,
      env,
    });
    return waitReport(result, WAIT_BUYERS);
  };
  const waitIntro = (command: string) =>
    `${WAIT_BUYERS.toLocaleString('en-US')} buyers for one sale's queued orders, on the real API process and ${WORKERS} worker processes: first each holding one \`GET /orders/:id?wait=30\`, then (a fresh API process, the orders anew) each polling \`GET /orders/:id\` once a second; each buyer on a keep-alive connection of its own, from one buyers' process. Idle: 5 s while no worker runs; deciding: from the workers' start until every buyer has its decision. Decision → answer: the buyer's clock when the decided order reached it, minus the order's \`decidedAt\` (one machine). Memory: the API process's growth from before the buyers came to after the idle 5 s (the heap as V8 reports it, garbage not yet collected included). Per second: answers a second from the workers' start, their boot included. Command: ${command}.`;
  const holdsPart = () =>
    holdsSection({
      redisUrl: redis.url,
      fresh,
      rounds: ROUNDS,
      workers: WORKERS,
      env,
      orders: ORDERS,
      progress,
    }).then((part) => {
      checks.push(...part.checks);
      return part;
    });
  /** A section run alone (`--only`): its tables printed, docs/benchmarks.md left as it is; exit 1 on a violated invariant. */
  const printAlone = (title: string, part: { rows: Row[]; ratios: Ratio[]; lines?: string[] }) => {
    console.log(
      [
        `## ${title} (\`npm run bench -- --only ${process.argv[only + 1]}\`, ${new Date().toISOString().slice(0, 10)}, load average before the run ${LOAD_BEFORE})`,
        '',
        '| scenario | measured | per second | notes |',
        '|---|---|---|---|',
        ...rowLines(part.rows),
        '',
        '| target | measured | goal | met |',
        '|---|---|---|---|',
        ...ratioLines(part.ratios),
        ...(part.lines ? ['', ...part.lines] : []),
      ].join('\n'),
    );
    const violated = checks.filter(({ check }) => !holds(check));
    if (violated.length > 0) {
      console.error(
        `invariant violated in: ${violated.map((v) => `${v.scenario} ${JSON.stringify(v.check)}`).join('; ')}`,
      );
      process.exitCode = 1;
    }
  };
  if (ONLY_WAIT) {
    const wait = await waitSection();
    console.log(
      [
        `## Waiting for the decision (\`npm run bench -- --only wait\`, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load average before the run ${LOAD_BEFORE})`,
        '',
        waitIntro('`npm run bench -- --only wait`'),
        '',
        '| scenario | measured | per second | notes |',
        '|---|---|---|---|',
        ...rowLines(wait.rows),
        '',
        ...wait.lines,
      ].join('\n'),
    );
  } else if (ONLY_HOLDS) printAlone('Held units alone', await holdsPart());
  else if (ONLY_CLUSTER) printAlone('The cluster scenarios alone', await clusterSection());
  else {
    // 5. The HTTP ceilings (Express validating and answering 202, without Redis and with one
    // Queue.add) and Flashline through HTTP (the API process, the worker processes, a generator
    // process), round by round: the ceilings move as much as Flashline from one minute to the next.
    const http202 = { ...env };
    // The limits' defaults (unset: loadConfig's), but the per-address one above the load of one generator.
    const PER_IP_CEILING = 1_000_000;
    const productionDefaults = {
      ...http202,
      RATE_LIMIT_PER_USER: String(loadConfig({}).rateLimit.perUser),
      RATE_LIMIT_PER_IP: String(PER_IP_CEILING),
    };
    // A scenario through HTTP, as on the worker side. Every run is on this Redis, with ORDERS requests,
    // HTTP_CONCURRENCY in flight, WORKERS worker processes and `http202`, unless its settings say otherwise.
    const endToEndScenario = (
      scenario: string,
      what: string,
      run: Omit<EndToEndOptions, 'redisUrl' | 'requests' | 'concurrency' | 'workers'> & { requests?: number },
    ) => ({ scenario, what, run, rounds: [] as EndToEndResult[] });
    // In the order they run in each round (and their rows stand in the report).
    const httpSide = {
      hot: endToEndScenario(
        'Flashline hot product, through HTTP',
        `${ORDERS} POST /orders for 1 product (stock ${STOCK}), ${HTTP_CONCURRENCY} in flight`,
        { keyPrefix: 'hot-http', products: [{ productId: 'hot', stock: STOCK }], productOf: () => 0 },
      ),
      // The same burst with no worker running during it: the API's own cost, as the ceiling measures Express + Queue.add alone.
      acceptOnly: endToEndScenario(
        'Flashline hot product, accept path alone',
        `${ORDERS} POST /orders for 1 product (stock ${STOCK}); workers start after the burst`,
        {
          keyPrefix: 'accept-http',
          products: [{ productId: 'hot', stock: STOCK }],
          productOf: () => 0,
          workersAfterBurst: true,
        },
      ),
      wide: endToEndScenario(
        'Flashline wide sale, through HTTP',
        `${ORDERS} POST /orders over 1,000 products (Zipf skew)`,
        { keyPrefix: 'wide-http', products: wideProducts, productOf: (i) => wideOrders[i]! },
      ),
      storm: endToEndScenario(
        'Flashline sold-out storm, through HTTP',
        `${STORM} POST /orders for a sold-out product, then a restock`,
        {
          keyPrefix: 'storm',
          products: [{ productId: 'gone', stock: 0 }],
          productOf: () => 0,
          requests: STORM,
          restock: { productId: 'gone', stock: 5 },
        },
      ),
      // The same two with the production defaults: the per-user limit on (RATE_LIMIT_PER_USER's default;
      // each request is another buyer's), the per-address limit on with a ceiling above the load (the
      // generator is one address), and an Idempotency-Key on every request, as a careful client sends.
      acceptDefaults: endToEndScenario(
        'Flashline hot product, accept path alone, production defaults',
        `the accept path alone's burst, with \`RATE_LIMIT_PER_USER\` ${loadConfig({}).rateLimit.perUser}, \`RATE_LIMIT_PER_IP\` ${PER_IP_CEILING.toLocaleString('en-US')} and an Idempotency-Key on every request`,
        {
          keyPrefix: 'accept-defaults',
          products: [{ productId: 'hot', stock: STOCK }],
          productOf: () => 0,
          workersAfterBurst: true,
          idempotencyKeys: true,
          env: productionDefaults,
        },
      ),
      stormDefaults: endToEndScenario(
        'Flashline sold-out storm, through HTTP, production defaults',
        `the storm, with the same limits and an Idempotency-Key on every request`,
        {
          keyPrefix: 'storm-defaults',
          products: [{ productId: 'gone', stock: 0 }],
          productOf: () => 0,
          requests: STORM,
          idempotencyKeys: true,
          env: productionDefaults,
        },
      ),
      // The pool: the same hot product and storm with API_PROCESSES=2 (the rows above run one API process),
      // interleaved with them in each round, so the ratios compare runs minutes apart at most.
      hotPool: endToEndScenario(
        'Flashline hot product, through HTTP, API pool of 2',
        `the hot product's burst with \`API_PROCESSES=2\``,
        {
          keyPrefix: 'hot-pool',
          products: [{ productId: 'hot', stock: STOCK }],
          productOf: () => 0,
          env: { API_PROCESSES: '2' },
        },
      ),
      stormPool: endToEndScenario(
        'Flashline sold-out storm, through HTTP, production defaults, API pool of 2',
        `the production-defaults storm with \`API_PROCESSES=2\``,
        {
          keyPrefix: 'storm-pool',
          products: [{ productId: 'gone', stock: 0 }],
          productOf: () => 0,
          requests: STORM,
          idempotencyKeys: true,
          env: { ...productionDefaults, API_PROCESSES: '2' },
        },
      ),
    };
    const httpCeilingRuns: HttpCeilingResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      progress(`HTTP ceilings (round ${r + 1}/${ROUNDS})`);
      await fresh();
      httpCeilingRuns.push(
        await httpCeiling({
          redisUrl: redis.url,
          keyPrefix: `http-${r}`,
          requests: ORDERS,
          concurrency: HTTP_CONCURRENCY,
          // The same requests as the keyed scenarios (the ceilings ignore the header).
          idempotencyKeys: true,
          generator: 'wrk',
        }),
      );
      for (const s of Object.values(httpSide)) {
        const run = {
          redisUrl: redis.url,
          requests: ORDERS,
          concurrency: HTTP_CONCURRENCY,
          workers: WORKERS,
          ...s.run,
          env: { ...http202, ...s.run.env },
        };
        s.rounds.push(await inRound(s.scenario, r, run, measureEndToEnd));
      }
    }
    const http = {
      nodeHttp: medianRun(httpCeilingRuns, (c) => c.nodeHttp.requestsPerSecond).nodeHttp,
      validateOnly: medianRun(httpCeilingRuns, (c) => c.validateOnly.requestsPerSecond).validateOnly,
      validateAndEnqueue: medianRun(httpCeilingRuns, (c) => c.validateAndEnqueue.requestsPerSecond).validateAndEnqueue,
    };
    for (const [name, variant, all] of [
      [
        'HTTP ceiling: node:http, validate only',
        http.nodeHttp,
        httpCeilingRuns.map((c) => c.nodeHttp.requestsPerSecond),
      ],
      ['HTTP ceiling: validate only', http.validateOnly, httpCeilingRuns.map((c) => c.validateOnly.requestsPerSecond)],
      [
        'HTTP ceiling: validate + Queue.add',
        http.validateAndEnqueue,
        httpCeilingRuns.map((c) => c.validateAndEnqueue.requestsPerSecond),
      ],
    ] as const) {
      httpRows.push({
        scenario: name,
        what: `${ORDERS} POST /orders, ${HTTP_CONCURRENCY} in flight`,
        perSecond: variant.requestsPerSecond,
        notes: `${spread(all)}; p50 ${variant.latencyMs.p50} ms, p99 ${variant.latencyMs.p99} ms; server CPU ${microsPerRequest(variant.serverCpuMs, variant)} µs per request; generator (wrk, 1 thread) ${microsPerRequest(variant.generatorCpuMs ?? NaN, variant)} µs per request, ${percent((variant.generatorCpuMs ?? NaN) / variant.elapsedMs)} of a core`,
      });
    }
    // wrk's own ceiling: the answers it reads per second of its own CPU (one thread, one core), in the
    // node:http run, where it is busiest. Above the servers' rates, so what they measure is theirs.
    const generatorCeiling = (v: (typeof http)['nodeHttp']) => (v.total / (v.generatorCpuMs ?? NaN)) * 1000;
    httpRows.push({
      scenario: 'HTTP ceiling: the load generator (wrk, 1 thread)',
      what: 'answers wrk reads per second of its own CPU, in the node:http runs',
      perSecond: generatorCeiling(http.nodeHttp),
      notes: `${spread(httpCeilingRuns.map((c) => generatorCeiling(c.nodeHttp)))}; ${microsPerRequest(http.nodeHttp.generatorCpuMs ?? NaN, http.nodeHttp)} µs of wrk CPU per request, ${percent((http.nodeHttp.generatorCpuMs ?? NaN) / http.nodeHttp.elapsedMs)} of a core at ${Math.round(http.nodeHttp.requestsPerSecond).toLocaleString('en-US')} requests/s`,
    });
    const endToEndRow = (scenario: string, what: string, all: EndToEndResult[]): EndToEndResult => {
      const r = medianRun(all, (run) => run.requestsPerSecond);
      httpRows.push({
        scenario,
        what,
        perSecond: r.requestsPerSecond,
        notes: `${spread(all.map((run) => run.requestsPerSecond))}; ${statusText(r.statusCounts)}; API CPU ${r.apiCpuMicrosPerRequest} µs per request; ${invariantText(r.invariant)}`,
      });
      details.push(
        `| ${scenario} | ${r.acceptLatencyMs.p50} / ${r.acceptLatencyMs.p99} | ${r.invariant.decisionLatencyMs.p50} / ${r.invariant.decisionLatencyMs.p99} | ${round(r.drainMs)} | ${cpuText(r.cpu)} |`,
      );
      return r;
    };
    const endToEndSideRow = (s: { scenario: string; what: string; rounds: EndToEndResult[] }) =>
      endToEndRow(s.scenario, s.what, s.rounds);
    const hotHttp = endToEndSideRow(httpSide.hot);
    const acceptOnly = endToEndSideRow(httpSide.acceptOnly);
    endToEndSideRow(httpSide.wide);
    const storm = endToEndSideRow(httpSide.storm);
    const acceptDefaults = endToEndSideRow(httpSide.acceptDefaults);
    const stormDefaults = endToEndSideRow(httpSide.stormDefaults);
    const hotPool = endToEndSideRow(httpSide.hotPool);
    const stormPool = endToEndSideRow(httpSide.stormPool);
    const cpuOf = (variant: (typeof http)['validateOnly']) => variant.serverCpuMs / variant.total / 1000;
    // Each throughput ratio through HTTP, and beside it the API's CPU per request against the ceiling server's.
    const httpRatio = (
      name: string,
      run: EndToEndResult,
      ceiling: (typeof http)['validateOnly'],
      ceilingName: string,
    ) => [
      {
        target: `${name}: requests/s ÷ ${ceilingName}`,
        measured: run.requestsPerSecond / ceiling.requestsPerSecond,
        goal: 0.9,
        kind: 'min' as const,
      },
      {
        target: `${name}: API CPU per request ÷ ${ceilingName}'s`,
        measured: run.apiCpuMicrosPerRequest / 1e6 / cpuOf(ceiling),
        goal: 1.1,
        kind: 'max' as const,
      },
    ];
    // The front door against Node's own HTTP: one API process, production defaults, the same requests.
    const nodeRatio = (name: string, run: EndToEndResult, goal: number): Ratio => ({
      target: `${name}: requests/s ÷ node:http (API CPU ${round(run.apiCpuMicrosPerRequest)} µs per request, node:http ${Math.round(cpuOf(http.nodeHttp) * 1e6)} µs)`,
      measured: run.requestsPerSecond / http.nodeHttp.requestsPerSecond,
      goal,
      kind: 'min',
    });
    const httpRatios: Ratio[] = [
      {
        target: 'API pool of 2 ÷ 1 process: sold-out storm, production defaults (requests/s)',
        measured: stormPool.requestsPerSecond / stormDefaults.requestsPerSecond,
        goal: 1.5,
        kind: 'min',
      },
      {
        target: 'API pool of 2 ÷ 1 process: hot product through HTTP (requests/s)',
        measured: hotPool.requestsPerSecond / hotHttp.requestsPerSecond,
        goal: 1.3,
        kind: 'min',
      },
      nodeRatio('sold-out storm, production defaults', stormDefaults, 0.6),
      nodeRatio('accept path alone (workers stopped), production defaults', acceptDefaults, 0.45),
      ...httpRatio('hot product through HTTP', hotHttp, http.validateAndEnqueue, 'Express + Queue.add'),
      {
        target: 'hot product through HTTP: p99 accept latency ÷ Express + Queue.add p99',
        measured: hotHttp.acceptLatencyMs.p99 / http.validateAndEnqueue.latencyMs.p99,
        goal: 1.5,
        kind: 'max',
      },
      ...httpRatio(
        'hot product, accept path alone (no worker running)',
        acceptOnly,
        http.validateAndEnqueue,
        'Express + Queue.add',
      ),
      {
        target: 'hot product, accept path alone: p99 accept latency ÷ Express + Queue.add p99',
        measured: acceptOnly.acceptLatencyMs.p99 / http.validateAndEnqueue.latencyMs.p99,
        goal: 1.5,
        kind: 'max',
      },
      ...httpRatio(
        'accept path alone, production defaults (limits on, a key on every request)',
        acceptDefaults,
        http.validateAndEnqueue,
        'Express + Queue.add',
      ),
      ...httpRatio('sold-out storm', storm, http.validateOnly, 'Express without Redis'),
      ...httpRatio(
        'sold-out storm, production defaults (limits on, a key on every request)',
        stormDefaults,
        http.validateOnly,
        'Express without Redis',
      ),
    ];
    // The restock target holds for every round, so the slowest one is the figure.
    const restockSeenMs = Math.max(...httpSide.storm.rounds.map((run) => run.restockSeenMs ?? NaN));
    if (ONLY_HTTP) {
      // Printed, not written: the report's other sections would be missing (docs/benchmarks.md is a full run's).
      printAlone('HTTP scenarios alone', {
        rows: httpRows,
        ratios: httpRatios,
        lines: [
          '| scenario | accept p50 / p99 (ms) | accept → decision p50 / p99 (ms) | drain after the burst (ms) | CPU per process |',
          '|---|---|---|---|---|',
          ...details,
        ],
      });
    } else {
      // 1. The seed documents' algorithms, 50 clients each.
      const seed: Record<string, number> = {};
      for (const algorithm of SEED_ALGORITHMS) {
        progress(`seed: ${algorithm}`);
        const r = await runSeedAlgorithm(algorithm, {
          redisUrl: redis.url,
          keyPrefix: `seed-${algorithm}`,
          stock: SEED_ORDERS / 2,
          demand: SEED_ORDERS,
          clients: 50,
        });
        seed[algorithm] = r.decisionsPerSecond;
        rows.push({
          scenario: `Seed: ${algorithm}`,
          what: `${SEED_ORDERS} decisions, 50 clients, stock ${SEED_ORDERS / 2}`,
          perSecond: r.decisionsPerSecond,
          notes: `sold ${r.sold}, oversold **${r.oversold}**${r.abortedExecs !== undefined ? `, aborted EXECs ${r.abortedExecs}` : ''}${r.lockSpins !== undefined ? `, lock spins ${r.lockSpins}` : ''}`,
        });
      }

      // 3. BullMQ's ceiling (trivial jobs, no lock, no commit, the same processes and concurrency) and
      // Flashline worker side (the queue pre-filled, the clock runs from resume to empty), round by round.
      // The wide sale over fewer and more products (the same orders and total stock, the same skew):
      // how the cost grows with the products a wave's orders fall on.
      const spreadSales = SPREAD_PRODUCTS.map((count) => ({
        count,
        scenario: spreadScenario(count),
        products: Array.from({ length: count }, (_, i) => ({ productId: `s${i}`, stock: Math.ceil(STOCK / count) })),
        orders: skewed(count, ORDERS),
      }));
      type WorkerSide = Awaited<ReturnType<typeof measureWorkerSide>>;
      // A worker-side scenario: its report row (name and what it runs), its run's settings, and the result
      // of each round. Every run is on this Redis, with WORKERS worker processes and `env`, unless its
      // settings say otherwise.
      const workerScenario = (
        scenario: string,
        what: string,
        run: Omit<WorkerSideOptions, 'redisUrl' | 'workers'> & { workers?: number },
      ) => ({ scenario, what, run, rounds: [] as WorkerSide[] });
      // Every order for one product, or spread over the wide sale's 1,000 (the same orders in every run).
      const hotSale = (keyPrefix: string) => ({
        keyPrefix,
        products: [{ productId: 'hot', stock: STOCK }],
        orderProducts: new Array<number>(ORDERS).fill(0),
      });
      const wideSale = (keyPrefix: string) => ({ keyPrefix, products: wideProducts, orderProducts: wideOrders });
      // In the order they run in each round (and their rows stand in the report).
      const workerSide = {
        hot: workerScenario(
          'Flashline hot product, worker side',
          `${ORDERS} orders for 1 product (stock ${STOCK}), queue pre-filled`,
          hotSale('hot'),
        ),
        // The same, with the accept path's batching off (ACCEPT_BATCH=1): one BullMQ job per order, as before.
        single: workerScenario(
          'Flashline hot product, worker side, one job per order',
          'the same, accepted with `ACCEPT_BATCH=1`',
          { ...hotSale('hot-single'), env: { ...env, ACCEPT_BATCH: '1' } },
        ),
        // The same, every lock taken with a lease (acquire, commit, release), as before the commit script claimed it.
        hotLeased: workerScenario(
          'Flashline hot product, worker side, leased locks',
          'the same, with `COMMIT_CLAIMS_LOCK=false`',
          { ...hotSale('hot-leased'), env: { ...env, COMMIT_CLAIMS_LOCK: 'false' } },
        ),
        wide: workerScenario(
          'Flashline wide sale, worker side',
          `${ORDERS} orders over 1,000 products (Zipf skew), queue pre-filled`,
          wideSale('wide'),
        ),
        wideLeased: workerScenario(
          'Flashline wide sale, worker side, leased locks',
          'the same, with `COMMIT_CLAIMS_LOCK=false`',
          { ...wideSale('wide-leased'), env: { ...env, COMMIT_CLAIMS_LOCK: 'false' } },
        ),
        // Hot and wide again with one worker process: two workers and Redis are three busy processes on
        // this machine's cores, and the wide sale's extra work per product shows most when CPU is short.
        hotOne: workerScenario(
          'Flashline hot product, worker side, one worker process',
          'the same as the hot product, with 1 worker process',
          { ...hotSale('hot-one'), workers: 1 },
        ),
        wideOne: workerScenario(
          'Flashline wide sale, worker side, one worker process',
          'the same as the wide sale, with 1 worker process',
          { ...wideSale('wide-one'), workers: 1 },
        ),
        spread: spreadSales.map((sale) =>
          workerScenario(
            sale.scenario,
            `the wide sale's ${ORDERS} orders over ${sale.count.toLocaleString('en-US')} products (Zipf skew, stock ${Math.ceil(STOCK / sale.count)} each)`,
            { keyPrefix: `wide-${sale.count}`, products: sale.products, orderProducts: sale.orders },
          ),
        ),
        // Orders accepted while units were left, then a correction to 0 before the workers run: all sold_out.
        soldOut: workerScenario(
          'Flashline sold-out orders, worker side',
          `${ORDERS} orders for 1 product set to stock 0 after they were accepted`,
          {
            keyPrefix: 'gone',
            products: [{ productId: 'gone', stock: ORDERS }],
            orderProducts: new Array<number>(ORDERS).fill(0),
            stockBeforeRun: 0,
          },
        ),
      };
      const ceilingRuns: Awaited<ReturnType<typeof bullmqCeilingProcesses>>[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        progress(`BullMQ ceiling (round ${r + 1}/${ROUNDS})`);
        await fresh();
        ceilingRuns.push(
          await bullmqCeilingProcesses({
            redisUrl: redis.url,
            keyPrefix: `ceiling-${r}`,
            jobs: ORDERS,
            concurrency: CONCURRENCY,
            processes: WORKERS,
          }),
        );
        for (const s of Object.values(workerSide).flat()) {
          const run = { redisUrl: redis.url, workers: WORKERS, env, ...s.run };
          s.rounds.push(await inRound(s.scenario, r, run, measureWorkerSide));
        }
      }
      const ceiling = medianRun(ceilingRuns, (c) => c.jobsPerSecond);
      rows.push({
        scenario: 'BullMQ ceiling',
        what: `${ORDERS} trivial jobs, ${WORKERS} processes × concurrency ${CONCURRENCY}`,
        perSecond: ceiling.jobsPerSecond,
        notes: `${spread(ceilingRuns.map((c) => c.jobsPerSecond))}; no lock, no commit; CPU: ${ceiling.workerCpu.map((c, i) => `worker${i + 1} ${percent(c)}`).join(', ')}, redis ${percent(ceiling.redisCpu)}`,
      });
      const workerRow = (scenario: string, what: string, all: WorkerSide[]) => {
        const r = medianRun(all, (run) => run.decisionsPerSecond);
        rows.push({
          scenario,
          what,
          perSecond: r.decisionsPerSecond,
          notes: `${spread(all.map((run) => run.decisionsPerSecond))}; ${round(r.ordersPerJob)} orders per job, ${round(r.ordersPerCommit)} per commit (${round(r.productsPerCommit)} products); CPU: ${cpuText(r.cpu)}; ${invariantText(r.invariant)}`,
        });
        return r;
      };
      const workerSideRow = (s: { scenario: string; what: string; rounds: WorkerSide[] }) =>
        workerRow(s.scenario, s.what, s.rounds);
      const hot = workerSideRow(workerSide.hot);
      const single = workerSideRow(workerSide.single);
      const hotLeased = workerSideRow(workerSide.hotLeased);
      const wide = workerSideRow(workerSide.wide);
      const wideLeased = workerSideRow(workerSide.wideLeased);
      const hotOne = workerSideRow(workerSide.hotOne);
      const wideOne = workerSideRow(workerSide.wideOne);
      const spreadRows = workerSide.spread.map(workerSideRow);
      const soldOut = workerSideRow(workerSide.soldOut);

      // 4b. What one product more in a commit costs, the commit script alone (no queue, no worker).
      progress('commit shapes');
      await fresh();
      const shapes = await measureCommitShapes(redis.url, ROUNDS);
      const [oneProduct, , everyOrderItsOwn] = shapes as [CommitShape, CommitShape, CommitShape];
      const perProduct = (figure: (s: CommitShape) => number) =>
        round(((figure(everyOrderItsOwn) - figure(oneProduct)) * 64) / 63);
      const shapeLines = [
        '| a commit of 64 orders over | Redis CPU per order (µs) | client CPU per order (µs) |',
        '|---|---|---|',
        ...shapes.map(
          (s) =>
            `| ${s.products} product${s.products > 1 ? 's' : ''} × ${s.ordersEach} order${s.ordersEach > 1 ? 's' : ''} | ${round(s.redisMicrosPerOrder)} | ${round(s.clientMicrosPerOrder)} |`,
        ),
        '',
        `Each product more in a commit costs about ${perProduct((s) => s.redisMicrosPerOrder)} µs of Redis CPU and ${perProduct((s) => s.clientMicrosPerOrder)} µs of client CPU (the 64-product commit against the 1-product one, per product added).`,
      ];

      rows.push(...httpRows);
      const cluster = await clusterSection();
      rows.push(...cluster.rows);
      const heldUnits = await holdsPart();
      rows.push(...heldUnits.rows);

      // 6. Worker memory over a long run, and Redis bytes per order.
      let soak: WorkerSide | undefined;
      if (SOAK > 0) {
        progress('Flashline soak (worker memory)');
        await fresh();
        soak = await measureWorkerSide({
          redisUrl: redis.url,
          keyPrefix: 'soak',
          products: wideProducts.map((p) => ({ ...p, stock: SOAK_WARMUP + SOAK })),
          orderProducts: skewed(1000, SOAK_WARMUP + SOAK),
          workers: WORKERS,
          env,
          rssEveryMs: 100,
        });
        checks.push({ scenario: 'Flashline soak (worker memory)', check: soak.invariant });
        workerRow(
          'Flashline soak (worker memory)',
          `${SOAK_WARMUP} orders of warm-up, then ${SOAK} measured, over 1,000 products (Zipf skew), queue pre-filled`,
          [soak],
        );
      }

      const ratios: Ratio[] = [
        ...httpRatios,
        {
          target: 'hot product, worker side: decisions/s ÷ BullMQ trivial jobs/s',
          measured: hot.decisionsPerSecond / ceiling.jobsPerSecond,
          goal: 1,
          kind: 'min',
        },
        {
          target: 'hot product, worker side: decisions/s ÷ WATCH loop',
          measured: hot.decisionsPerSecond / seed.watch!,
          goal: 25,
          kind: 'min',
        },

        {
          target: 'wide sale, worker side: decisions/s ÷ hot product',
          measured: wide.decisionsPerSecond / hot.decisionsPerSecond,
          goal: 0.9,
          kind: 'min',
        },
        {
          target: 'restock seen by the API: seconds after the restock',
          measured: restockSeenMs / 1000,
          goal: 1,
          kind: 'max',
        },
        ...cluster.ratios,
        ...heldUnits.ratios,
      ];
      // CPU per decision, summed over the worker processes and Redis: what each design costs the machine.
      const microsPer = (cpu: number[], perSecond: number) =>
        Math.round((cpu.reduce((a, b) => a + b, 0) / perSecond) * 1e6);
      const cpuPerDecision = [
        `BullMQ trivial job: ${microsPer(ceiling.workerCpu, ceiling.jobsPerSecond)} µs of worker CPU and ${microsPer([ceiling.redisCpu], ceiling.jobsPerSecond)} µs of Redis CPU per job.`,
        ...(
          [
            ['Flashline hot product', hot],
            ['Flashline hot product, one job per order (`ACCEPT_BATCH=1`)', single],
            ['Flashline wide sale', wide],
            ['Flashline hot product, one worker process', hotOne],
            ['Flashline wide sale, one worker process', wideOne],
          ] as const
        ).map(
          ([name, r]) =>
            `${name}: ${microsPer(
              Object.entries(r.cpu)
                .filter(([k]) => k !== 'redis')
                .map(([, v]) => v),
              r.decisionsPerSecond,
            )} µs of worker CPU and ${microsPer([r.cpu.redis ?? NaN], r.decisionsPerSecond)} µs of Redis CPU per decision (${round(r.ordersPerJob)} orders per job, ${round(r.ordersPerCommit)} per commit, ${round(r.productsPerCommit)} products per commit).`,
        ),
        `Wide sale ÷ hot product with one worker process (Redis and one worker: two busy processes on this machine's cores, not three), medians of this run: ${(wideOne.decisionsPerSecond / hotOne.decisionsPerSecond).toFixed(2)}× (${(wide.decisionsPerSecond / hot.decisionsPerSecond).toFixed(2)}× with two).`,
        `Wide sale ÷ hot product by the number of products the orders fall on, medians of this run: ${[
          [1000, wide] as const,
          ...spreadSales.map((sale, i) => [sale.count, spreadRows[i]!] as const),
        ]
          .sort(([a], [b]) => a - b)
          .map(
            ([count, r]) =>
              `${count.toLocaleString('en-US')} products ${(r.decisionsPerSecond / hot.decisionsPerSecond).toFixed(2)}× (${round(r.productsPerCommit)} products and ${round(r.ordersPerCommit)} orders per commit)`,
          )
          .join(', ')}.`,
        `Batch jobs against one job per order, hot product, medians of this run: ${round(hot.decisionsPerSecond / single.decisionsPerSecond)}× the decisions per second.`,
        `A lock claimed by the commit script against one taken with a lease, medians of this run: ${round(hot.decisionsPerSecond / hotLeased.decisionsPerSecond)}× the decisions per second for the hot product, ${round(wide.decisionsPerSecond / wideLeased.decisionsPerSecond)}× for the wide sale.`,
      ];
      const wait = await waitSection();
      rows.push(...wait.rows);
      const memory: string[] = [];
      if (soak) {
        const all = soak.rss.samples.filter((s) => s.mib.every(Number.isFinite));
        const samples = all.filter((s) => s.decided >= SOAK_WARMUP); // the measured run
        const mean = (part: typeof samples) =>
          part.length === 0
            ? NaN
            : part.reduce((sum, s) => sum + s.mib.reduce((a, b) => a + b, 0) / s.mib.length, 0) / part.length;
        // Each worker's lowest RSS in a stretch: the floor the garbage collector gets back to, what live
        // memory holds, so what a leak raises. The target reads it, not the mean: the GC's sawtooth (a
        // second or two) is as long as a quarter of this run on a fast machine, so a quarter's mean
        // depends on where in the sawtooth it falls (measured: floors 177 and 174 MiB, means 175 and 191).
        const floor = (part: typeof samples) =>
          part.length === 0 ? NaN : Math.max(...part[0]!.mib.map((_, w) => Math.min(...part.map((s) => s.mib[w]!))));
        // The measured run's first quarter of orders against its last: flat means no growth with orders decided.
        const early = samples.filter((s) => s.decided < SOAK_WARMUP + SOAK / 4);
        const late = samples.filter((s) => s.decided >= SOAK_WARMUP + (3 * SOAK) / 4);
        const warming = all.filter((s) => s.decided < SOAK_WARMUP / 4);
        ratios.push({
          target: `worker RSS over ${SOAK.toLocaleString('en-US')} orders (after ${SOAK_WARMUP.toLocaleString('en-US')} of warm-up): floor of the last quarter ÷ floor of the first`,
          measured: floor(late) / floor(early),
          goal: 1.1,
          kind: 'max',
        });
        memory.push(
          `- Worker resident memory over the ${SOAK.toLocaleString('en-US')}-order soak, after ${SOAK_WARMUP.toLocaleString('en-US')} orders of warm-up (${samples.length} samples, one every 100 ms): ` +
            `floor (each worker's lowest, the larger of the two) ${round(floor(early))} MiB in the first quarter of its orders, ${round(floor(late))} MiB in the last; ` +
            `mean ${round(mean(early))} MiB and ${round(mean(late))} MiB (${(mean(late) / mean(early)).toFixed(2)}×); max ${round(Math.max(...samples.flatMap((s) => s.mib)))} MiB. ` +
            `During the first quarter of the warm-up the floor was ${warming.length > 0 ? `${round(floor(warming))} MiB` : 'not sampled'}: the heap growing to its working size.`,
          `- Redis bytes per order over the soak, everything included (order record, ledgers, pending index, the queue's bounded history of finished jobs): ${Math.round(soak.redisBytesPerOrder)} B.`,
        );
      }
      memory.push(
        `- One decided order record alone (MEMORY USAGE, mean of 200): ${Math.round(hot.orderBytes)} B. Redis bytes per order in the hot-product run, everything included: ${Math.round(hot.redisBytesPerOrder)} B.`,
        '- Retention: a decided order expires `ORDER_RETENTION_S` (default 86,400) after its decision; BullMQ keeps the last 10,000 completed jobs (an hour at most) and failed jobs as long as their orders (`ORDER_RETENTION_S`); idempotency keys expire after `IDEMPOTENCY_TTL_S`. Memory per sale is therefore bounded by the orders of the last retention period.',
      );

      const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, load average before the run ${LOAD_BEFORE}`;
      const violated = checks.filter(({ check }) => !holds(check));
      writeReport(docs('benchmarks.md'), docs('benchmarks.svg'), {
        command: 'npm run bench',
        date: new Date().toISOString().slice(0, 10),
        machine,
        rows,
        ratios,
        extra: [
          '### Latency and CPU through HTTP',
          '',
          `Accept latency: from sending \`POST /orders\` to reading the whole answer, at the generator. Accept to decision: the order record's \`decidedAt − createdAt\` (the API's clock, then the worker's: one machine). Drain: from the burst's last answer until no order is undecided. CPU: share of one core per process during the burst (the machine has ${cpus().length}).`,
          '',
          '| scenario | accept p50 / p99 (ms) | accept → decision p50 / p99 (ms) | drain after the burst (ms) | CPU per process |',
          '|---|---|---|---|---|',
          ...details,
          '',
          `Reference: Express + \`Queue.add\` p50 ${http.validateAndEnqueue.latencyMs.p50} ms, p99 ${http.validateAndEnqueue.latencyMs.p99} ms; Express alone p50 ${http.validateOnly.latencyMs.p50} ms, p99 ${http.validateOnly.latencyMs.p99} ms.`,
          `After the storm, a restock of 5 units was accepted by the API ${httpSide.storm.rounds.map((run) => run.restockSeenMs).join(', ')} ms later (${ROUNDS} rounds) (its sold-out memory lasts \`SOLD_OUT_MEMORY_MS\`, ${loadConfig({}).soldOutMemoryMs.toLocaleString('en-US')} ms by default).`,
          `Worker side, sold-out orders: ${Math.round(soldOut.decisionsPerSecond).toLocaleString('en-US')} decisions/s.`,
          '',
          '### CPU per decision (worker side)',
          '',
          ...cpuPerDecision.map((line) => `- ${line}`),
          '',
          ...cluster.lines,
          '',
          '### Waiting for the decision',
          '',
          waitIntro('`npm run bench` (this section alone: `npm run bench -- --only wait`)'),
          '',
          ...wait.lines,
          '',
          '### What a product costs in a commit',
          '',
          `The commit script alone, on the same Redis (no queue, no worker): ${ROUNDS} interleaved rounds of 400 calls per shape, the median round of each; half the orders find stock. Command: \`npm run bench\` (this section).`,
          '',
          ...shapeLines,
          '',
          '### Memory',
          '',
          ...memory,
          '',
          '### Invariant after every scenario',
          '',
          violated.length === 0
            ? `Every Flashline scenario above ended with the invariant check holding: oversold 0, lost 0, duplicates 0, conservation errors 0 (${checks.length} scenarios, ${checks.reduce((sum, c) => sum + c.check.orders, 0).toLocaleString('en-US')} order records read back).`
            : `**Violated** in: ${violated.map((v) => v.scenario).join(', ')}.`,
          '',
          '### How to read the targets',
          '',
          'See "How to read it" at the top of this file for why each target is or is not met on this design, and what design would reach the ones that are not.',
          `HTTP scenarios run with wrk (one thread; its CPU per request is in the ceilings' rows) and with the rate limits off (\`RATE_LIMIT_PER_IP=0\`, \`RATE_LIMIT_PER_USER=0\`), except the two marked "production defaults": the per-user limit at its default, the per-address one at ${PER_IP_CEILING.toLocaleString('en-US')} (the generator is one client address, which the default would refuse after 200 requests a second), and an Idempotency-Key on every request. The ceilings get the same requests, keys included. API CPU per request: the API process's (from /proc) over the requests answered; the ceiling servers' is the bench process's, where they run.`,
        ].join('\n'),
      });
      console.log(JSON.stringify({ rows, ratios, details, memory }, null, 2));
      if (violated.length > 0) {
        // Each violated round's whole check: what was lost, doubled or oversold, and how the orders ended.
        console.error(
          `invariant violated in: ${violated.map((v) => `${v.scenario} ${JSON.stringify({ ...v.check, decisionLatencyMs: undefined })}`).join('; ')}`,
        );
        process.exitCode = 1;
      }
      process.stderr.write(`bench finished in ${Math.round((performance.now() - startedAt) / 1000)} s\n`);
    }
  }
} finally {
  admin.disconnect();
  await redis.stop();
}
