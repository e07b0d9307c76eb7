import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { connectRedis, createKeys, loadConfig, setProduct } from '@flashline/core';
import { freePort, mapConcurrent, requestJson, startApp, type AppProcess } from '@flashline/test-utils';
import { cpuSeconds, rssMiB } from '../flashline/cpu.ts';
import { percentile } from '../measure.ts';
import type { Row } from '../report.ts';
import { startBuyers } from './buyers.ts';
import type { BuyerMode } from './messages.ts';

export interface WaitBenchOptions {
  redisUrl: string;
  /** A plain client of that Redis: flushed before each half, and asked for its command counts. */
  admin: Redis;
  buyers: number;
  workers: number;
  /** How long the buyers wait (or poll) before any worker runs: the cost of waiting itself. */
  idleMs: number;
  env: Record<string, string>;
}

/** One half of the comparison: `buyers` asking for their queued orders one way, then the workers deciding them. */
export interface HalfResult {
  mode: BuyerMode;
  /** Decision (the order's decidedAt) to the buyer having it, ms. */
  lagMs: { p50: number; p99: number; max: number };
  answered: number;
  /** From the buyers' start until the API held every one's wait (NaN for polling). */
  registeredMs: number;
  requests: number;
  failures: number;
  /** The API process while nobody's order is decided: CPU µs per buyer per second, Redis commands per second. */
  idle: { apiCpuMicrosPerBuyerSecond: number; redisCommandsPerSecond: number; generatorCoreShare: number };
  /** The API process from the workers' start until every buyer had its answer: CPU µs per buyer. */
  decide: { apiCpuMicrosPerBuyer: number; generatorCoreShare: number; elapsedMs: number };
  /** The API process's growth with every buyer in: resident memory and V8 heap, bytes per buyer. */
  memory: { rssBytesPerBuyer: number; heapBytesPerBuyer: number; rssMiB: number };
}

const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** The soft limit on open files of this process (its children inherit it): each buyer holds a socket at both ends. */
function openFilesLimit(): number {
  const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  return line === 'unlimited' ? Infinity : Number(line);
}

/** One sample of the API's own metrics (GET /metrics). */
async function apiMetric(url: string, name: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then(
    (res) => res.text(),
    () => '',
  );
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}
const heapUsedBytes = (url: string) => apiMetric(url, 'nodejs_heap_size_used_bytes');

/** Until the API process holds `count` waiting requests (its flashline_order_waits gauge): the time it took. */
async function untilWaiting(url: string, count: number, from: number): Promise<number> {
  for (;;) {
    if ((await apiMetric(url, 'flashline_order_waits')) >= count) return performance.now() - from;
    if (performance.now() - from > 120_000) throw new Error(`the API never held ${count} waiting requests`);
    await sleep(100);
  }
}

async function commandsSoFar(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const [, name, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (name !== 'info') calls += Number(n);
  return calls;
}

async function half(options: WaitBenchOptions, mode: BuyerMode, keyPrefix: string): Promise<HalfResult> {
  await options.admin.flushall();
  const port = await freePort();
  const env = {
    REDIS_URL: options.redisUrl,
    KEY_PREFIX: keyPrefix,
    PORT: String(port),
    ADMIN_TOKEN,
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    HTTP_MAX_CONNECTIONS: String(options.buyers + 1000),
    // Every buyer is this machine's address.
    HTTP_MAX_CONNECTIONS_PER_IP: String(options.buyers + 1000),
    ORDER_WAIT_MAX: String(options.buyers),
    ORDER_WAIT_MAX_PER_IP: String(options.buyers),
    ...options.env,
  };
  const redis = connectRedis(loadConfig(env), 'worker');
  const apps: AppProcess[] = [];
  const url = `http://127.0.0.1:${port}`;
  try {
    await setProduct(redis, createKeys(keyPrefix), 'sale', { stock: options.buyers });
    const api = startApp('apps/api/src/main.ts', env);
    apps.push(api);
    await api.waitForLog(/api listening/, 30_000);
    const pid = api.child.pid!;
    const orderIds = await mapConcurrent(
      Array.from({ length: options.buyers }, (_, i) => i),
      64,
      async (i) => {
        const reply = await requestJson(`${url}/orders`, {
          method: 'POST',
          body: { productId: 'sale', userId: `buyer-${i}`, quantity: 1 },
        });
        if (reply.status !== 202) throw new Error(`order ${i}: ${reply.status} ${JSON.stringify(reply.body)}`);
        return reply.body.orderId;
      },
    );
    await sleep(1000);
    const rssBefore = rssMiB(pid);
    const heapBefore = await heapUsedBytes(url);

    const buyersFrom = performance.now();
    const buyers = startBuyers(url, orderIds, mode);
    try {
      await buyers.in;
      // Every wait registered (and its first read made); every poller past its first round.
      const registeredMs = mode.kind === 'wait' ? await untilWaiting(url, options.buyers, buyersFrom) : NaN;
      await sleep(mode.kind === 'poll' ? mode.pollMs + 500 : 1000);
      const idleFrom = { at: performance.now(), api: cpuSeconds(pid), gen: await buyers.cpuMs() };
      const commandsFrom = await commandsSoFar(options.admin);
      await sleep(options.idleMs);
      const idleTo = { at: performance.now(), api: cpuSeconds(pid), gen: await buyers.cpuMs() };
      const commandsTo = await commandsSoFar(options.admin);
      const rssIn = rssMiB(pid);
      const heapIn = await heapUsedBytes(url);
      const idleS = (idleTo.at - idleFrom.at) / 1000;

      const workers = Array.from({ length: options.workers }, () => startApp('apps/worker/src/main.ts', env));
      apps.push(...workers);
      const decideFrom = { at: performance.now(), api: cpuSeconds(pid), gen: await buyers.cpuMs() };
      const { result, cpuMs } = await buyers.done;
      const decideTo = { at: performance.now(), api: cpuSeconds(pid), gen: cpuMs };
      const lags = result.answeredAt
        .map((at, i) => at - result.decidedAt[i]!)
        .filter(Number.isFinite)
        .sort((a, b) => a - b);
      const decideMs = decideTo.at - decideFrom.at;
      return {
        mode,
        lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags.at(-1) ?? NaN },
        answered: lags.length,
        registeredMs,
        requests: result.requests,
        failures: result.failures,
        idle: {
          apiCpuMicrosPerBuyerSecond: ((idleTo.api - idleFrom.api) * 1e6) / options.buyers / idleS,
          redisCommandsPerSecond: (commandsTo - commandsFrom) / idleS,
          generatorCoreShare: (idleTo.gen - idleFrom.gen) / 1000 / idleS,
        },
        decide: {
          apiCpuMicrosPerBuyer: ((decideTo.api - decideFrom.api) * 1e6) / options.buyers,
          generatorCoreShare: (decideTo.gen - decideFrom.gen) / decideMs,
          elapsedMs: decideMs,
        },
        memory: {
          rssBytesPerBuyer: ((rssIn - rssBefore) * 1024 * 1024) / options.buyers,
          heapBytesPerBuyer: (heapIn - heapBefore) / options.buyers,
          rssMiB: rssIn,
        },
      };
    } finally {
      buyers.kill();
    }
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    redis.disconnect();
  }
}

export interface WaitBenchResult {
  wait: HalfResult;
  poll: HalfResult;
  openFiles: number;
}

/**
 * 10,000 buyers (BENCH_WAIT_BUYERS) for one sale's queued orders, through the real API and worker
 * processes: first each holding one GET ?wait=30, then (a fresh API process, the same orders anew)
 * each polling GET once a second; both while nothing is decided (`idleMs`) and while the workers decide.
 */
export async function measureWaiting(options: WaitBenchOptions): Promise<WaitBenchResult> {
  const openFiles = openFilesLimit();
  // Each buyer holds a socket in the buyers' process and one in the API's: each process needs that many files.
  if (openFiles < options.buyers + 2000)
    throw new Error(
      `the wait bench needs ${options.buyers + 2000} open files a process (ulimit -n is ${openFiles}): raise ulimit -n, or set BENCH_WAIT_BUYERS lower`,
    );
  const wait = await half(options, { kind: 'wait', waitS: 30 }, 'wait-w');
  const poll = await half(options, { kind: 'poll', pollMs: 1000 }, 'wait-p');
  return { wait, poll, openFiles };
}

const n = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a';

/** The report's rows: the two halves side by side, then the ratios (wait ÷ poll). */
export function waitReport(r: WaitBenchResult, buyers: number): { rows: Row[]; lines: string[] } {
  const row = (name: string, h: HalfResult): Row => ({
    scenario: `Flashline ${buyers.toLocaleString('en-US')} buyers ${name}`,
    what: `decision → answer p50 ${n(h.lagMs.p50)} ms, p99 ${n(h.lagMs.p99)} ms (max ${n(h.lagMs.max)}); ${n(h.answered)} answered`,
    perSecond: (h.answered * 1000) / h.decide.elapsedMs,
    notes: `${Number.isFinite(h.registeredMs) ? `every wait registered ${n(h.registeredMs)} ms after the buyers started; ` : ''}API idle ${n(h.idle.apiCpuMicrosPerBuyerSecond, 2)} µs CPU per buyer a second, ${n(h.idle.redisCommandsPerSecond)} Redis commands/s; API ${n(h.decide.apiCpuMicrosPerBuyer, 1)} µs CPU per buyer while deciding; RSS +${n(h.memory.rssBytesPerBuyer)} B, heap +${n(h.memory.heapBytesPerBuyer)} B per buyer (${n(h.memory.rssMiB)} MiB); ${n(h.requests)} requests, ${n(h.failures)} failed; buyers' process ${Math.round(h.idle.generatorCoreShare * 100)}% of a core idle, ${Math.round(h.decide.generatorCoreShare * 100)}% deciding`,
  });
  const ratio = (what: string, w: number, p: number) => `| ${what} | ${n(w, 2)} | ${n(p, 2)} | ${n(w / p, 3)}× |`;
  const { wait: w, poll: p } = r;
  return {
    rows: [row('waiting (GET ?wait=30)', w), row('polling (GET once a second)', p)],
    lines: [
      `| ${buyers.toLocaleString('en-US')} buyers | wait | poll | wait ÷ poll |`,
      '|---|---|---|---|',
      ratio('decision → answer p50, ms', w.lagMs.p50, p.lagMs.p50),
      ratio('decision → answer p99, ms', w.lagMs.p99, p.lagMs.p99),
      ratio(
        'API CPU while nothing is decided, µs per buyer a second',
        w.idle.apiCpuMicrosPerBuyerSecond,
        p.idle.apiCpuMicrosPerBuyerSecond,
      ),
      ratio('Redis commands/s while nothing is decided', w.idle.redisCommandsPerSecond, p.idle.redisCommandsPerSecond),
      ratio(
        'API CPU from the workers’ start to the last answer, µs per buyer',
        w.decide.apiCpuMicrosPerBuyer,
        p.decide.apiCpuMicrosPerBuyer,
      ),
      ratio('API RSS per buyer in, bytes', w.memory.rssBytesPerBuyer, p.memory.rssBytesPerBuyer),
      ratio('API V8 heap per buyer in, bytes', w.memory.heapBytesPerBuyer, p.memory.heapBytesPerBuyer),
      ratio(
        "buyers' process, share of a core while nothing is decided",
        w.idle.generatorCoreShare,
        p.idle.generatorCoreShare,
      ),
      ratio(
        "buyers' process, share of a core while deciding",
        w.decide.generatorCoreShare,
        p.decide.generatorCoreShare,
      ),
      '',
      `Open files allowed per process: ${n(r.openFiles)} (ulimit -n; each buyer holds a socket in the buyers' process and one in the API's).`,
    ],
  };
}
