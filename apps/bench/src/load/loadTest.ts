import { Agent, request } from 'node:http';
import { percentile, round } from '../measure.ts';

export interface LoadTestOptions {
  /** The full request URL, e.g. `http://127.0.0.1:3000/orders`. */
  url: string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Requests to send in all. */
  total: number;
  /** The JSON body of request `i` (0 ≤ i < total). */
  body: (i: number) => unknown;
  /** Extra headers of request `i` (an `Idempotency-Key`, ...); `content-type: application/json` is always sent. */
  headers?: (i: number) => Record<string, string>;
  /** Default POST. */
  method?: string;
  /** A request with no answer by then counts as status 0. Default 10,000 ms. */
  timeoutMs?: number;
  /**
   * `http` (default): `node:http` with a keep-alive agent of `concurrency` sockets. `fetch`: Node's
   * fetch, which costs about twice the CPU per request, enough to make the generator the bottleneck
   * on a small machine. Both reuse connections; `http://` URLs only for `http`.
   */
  transport?: Transport;
}

export type Transport = 'http' | 'fetch';

export interface LoadTestResult {
  total: number;
  concurrency: number;
  elapsedMs: number;
  requestsPerSecond: number;
  /** From sending the request to reading the whole answer. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Answers by HTTP status; `0` counts network errors and timeouts (outcome unknown). */
  statusCounts: Record<string, number>;
}

/** A plan whose bodies are already JSON text: what crosses the IPC channel to a generator child. */
export interface LoadPlan {
  url: string;
  concurrency: number;
  total: number;
  method: string;
  timeoutMs: number;
  payload: (i: number) => string;
  headers: (i: number) => Record<string, string>;
  transport: Transport;
}

/**
 * Sends `total` requests, `concurrency` at a time, from this process over keep-alive connections. Measures what a client sees; the caller's own CPU competes with the server's when
 * the server runs in the same process: `loadTestInChild` keeps them apart.
 */
export function loadTest(options: LoadTestOptions): Promise<LoadTestResult> {
  return runLoad(toPlan(options));
}

export function toPlan(options: LoadTestOptions): LoadPlan {
  return {
    url: options.url,
    concurrency: options.concurrency,
    total: options.total,
    method: options.method ?? 'POST',
    timeoutMs: options.timeoutMs ?? 10_000,
    payload: (i) => JSON.stringify(options.body(i)),
    headers: options.headers ?? (() => ({})),
    transport: options.transport ?? 'http',
  };
}

export async function runLoad(plan: LoadPlan): Promise<LoadTestResult> {
  const latencies = new Float64Array(plan.total);
  const statuses = new Map<number, number>();
  const agent = new Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const send = plan.transport === 'http' ? (i: number) => sendHttp(plan, agent, i) : (i: number) => sendFetch(plan, i);
  let next = 0;
  const lane = async () => {
    while (next < plan.total) {
      const i = next++;
      const sent = performance.now();
      const status = await send(i);
      latencies[i] = performance.now() - sent;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, plan.total) }, lane));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  latencies.sort();
  return {
    total: plan.total,
    concurrency: plan.concurrency,
    elapsedMs: round(elapsedMs),
    requestsPerSecond: round(plan.total / (elapsedMs / 1000)),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: round(percentile(latencies, 100)),
    },
    statusCounts: Object.fromEntries(
      [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => [String(status), count]),
    ),
  };
}

function sendHttp(plan: LoadPlan, agent: Agent, i: number): Promise<number> {
  const body = plan.method === 'GET' || plan.method === 'HEAD' ? undefined : plan.payload(i);
  // A Content-Length, as fetch sends: without it Node would send the body chunked.
  const length: Record<string, number> = body === undefined ? {} : { 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve) => {
    const req = request(
      plan.url,
      { method: plan.method, agent, headers: { 'content-type': 'application/json', ...length, ...plan.headers(i) } },
      (res) => {
        // Reading the body to its end hands the keep-alive socket back for the next request.
        res.resume();
        res.once('end', () => settle(res.statusCode ?? 0));
        res.once('error', () => settle(0));
      },
    );
    const timer = setTimeout(() => req.destroy(), plan.timeoutMs);
    const settle = (status: number) => {
      clearTimeout(timer);
      resolve(status);
    };
    req.once('error', () => settle(0));
    req.end(body);
  });
}

async function sendFetch(plan: LoadPlan, i: number): Promise<number> {
  try {
    const res = await fetch(plan.url, {
      method: plan.method,
      headers: { 'content-type': 'application/json', ...plan.headers(i) },
      ...(plan.method === 'GET' || plan.method === 'HEAD' ? {} : { body: plan.payload(i) }),
      signal: AbortSignal.timeout(plan.timeoutMs),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
