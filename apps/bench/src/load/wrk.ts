import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from '../measure.ts';
import type { LoadTestResult } from './loadTest.ts';

const script = fileURLToPath(new URL('./wrkOrders.lua', import.meta.url));
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface WrkOptions {
  /** The full request URL, e.g. `http://127.0.0.1:3000/orders`. */
  url: string;
  concurrency: number;
  total: number;
  /** The order of request `i`. */
  body: (i: number) => { productId: string; userId: string; quantity: number };
  /** Send `Idempotency-Key: <prefix><i>` on request `i` (a careful client's key on every request). */
  idempotencyKeyPrefix?: string;
}

export interface WrkResult extends LoadTestResult {
  /** CPU wrk spent (user + system, every thread), from its own /proc/self/stat at the end. */
  generatorCpuMs: number;
}

/**
 * POST /orders from wrk (a C load generator, one thread and `concurrency` keep-alive connections),
 * until `total` answers: a generator that costs a small part of what the server it loads costs.
 * Throws when wrk is not installed (`sudo apt-get install wrk`).
 */
export async function wrkLoad(options: WrkOptions): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'flashline-wrk-'));
  try {
    const plan = join(dir, 'plan.txt');
    writeFileSync(
      plan,
      Array.from({ length: options.total }, (_, i) => {
        const b = options.body(i);
        return `${b.productId} ${b.userId} ${b.quantity}`;
      }).join('\n') + '\n',
    );
    const out = await run(
      ['-t1', `-c${options.concurrency}`, '-d600s', '--timeout', '10s', '-s', script, options.url],
      {
        ...process.env,
        WRK_TOTAL: String(options.total),
        WRK_PLAN: plan,
        WRK_KEYS: options.idempotencyKeyPrefix === undefined ? '0' : '1',
        WRK_KEY_PREFIX: options.idempotencyKeyPrefix ?? '',
      },
    );
    const line = /^WRK_RESULT (.*)$/m.exec(out)?.[1];
    if (!line) throw new Error(`wrk printed no result:\n${out}`);
    const r = JSON.parse(line) as {
      requests: number;
      durationUs: number;
      errors: number;
      p50Us: number;
      p99Us: number;
      maxUs: number;
      cpuTicks: number;
      statuses: Record<string, number>;
    };
    const elapsedMs = r.durationUs / 1000;
    const statusCounts = { ...r.statuses, ...(r.errors > 0 ? { '0': r.errors } : {}) };
    return {
      total: r.requests,
      concurrency: options.concurrency,
      elapsedMs: round(elapsedMs),
      requestsPerSecond: round(r.requests / (elapsedMs / 1000)),
      latencyMs: { p50: round(r.p50Us / 1000), p90: NaN, p99: round(r.p99Us / 1000), max: round(r.maxUs / 1000) },
      statusCounts,
      generatorCpuMs: (r.cpuTicks / TICKS_PER_SECOND) * 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!interrupted && out.includes('WRK_DONE')) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}:\n${out}`))));
  });
}
