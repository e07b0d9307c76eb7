import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { result, withTimeout, type BullmqCeilingResult } from './bullmqCeiling.ts';
import { prefilledQueue, type CeilingQueueOptions } from './ceilingQueue.ts';
import { Redis } from 'ioredis';
import { cpuSeconds, redisCpuSeconds } from '../flashline/cpu.ts';

const entry = fileURLToPath(new URL('./bullmqWorkerProcess.ts', import.meta.url));
const benchDir = fileURLToPath(new URL('../../', import.meta.url));

export interface BullmqCeilingProcessesOptions extends CeilingQueueOptions {
  /** W, worker processes (one Worker of concurrency C each), as Flashline runs them. Default 2. */
  processes?: number;
  /** How often the queue is polled for the drain; bounds the error of `elapsedMs`. Default 10 ms. */
  pollMs?: number;
}

/**
 * BullMQ's ceiling with the workers in W separate processes. The clock starts once every process
 * reported `ready` and stops when the queue holds no waiting, active or delayed job; each process
 * then reports how many jobs it completed.
 */
export async function bullmqCeilingProcesses(
  options: BullmqCeilingProcessesOptions,
): Promise<BullmqCeilingResult & { redisCpu: number; workerCpu: number[] }> {
  const ceiling = await prefilledQueue(options);
  const count = options.processes ?? 2;
  const pollMs = options.pollMs ?? 10;
  const env = {
    ...process.env,
    BENCH_REDIS_URL: options.redisUrl,
    BENCH_QUEUE: ceiling.name,
    BENCH_PREFIX: ceiling.prefix,
    BENCH_CONCURRENCY: String(ceiling.concurrency),
  };
  // cwd inside the repo: `--import tsx` resolves from there (the root node_modules).
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', 'tsx', entry], { cwd: benchDir, env, stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  try {
    await Promise.all(children.map((child) => nextLine(child, /^ready$/, 30_000)));
    const probe = new Redis(options.redisUrl);
    const redisCpuBefore = await redisCpuSeconds(probe);
    const workerCpuBefore = children.map((child) => cpuSeconds(child.pid!));
    const started = performance.now();
    for (const child of children) child.stdin.write('go\n');
    const pending = () => ceiling.queue.getJobCountByTypes('wait', 'active', 'delayed', 'prioritized');
    let last = ceiling.jobs;
    await withTimeout(
      (async () => {
        while ((last = await pending()) > 0) await sleep(pollMs);
      })(),
      ceiling.timeoutMs,
      () => `${last} jobs still pending`,
    );
    const elapsedMs = performance.now() - started;
    // Redis' share of one core over the drain.
    const redisCpu = ((await redisCpuSeconds(probe)) - redisCpuBefore) / (elapsedMs / 1000);
    probe.disconnect();
    // Each worker process's share of one core over the drain.
    const workerCpu = children.map((child, i) => (cpuSeconds(child.pid!) - workerCpuBefore[i]!) / (elapsedMs / 1000));
    const done = await Promise.all(
      children.map((child) => {
        const line = nextLine(child, /^done \d+$/, 30_000);
        child.stdin.write('stop\n');
        return line;
      }),
    );
    const completed = done.reduce((sum, line) => sum + Number(line.split(' ')[1]), 0);
    return { ...result('processes', ceiling, count, elapsedMs, completed, await ceiling.left()), redisCpu, workerCpu };
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
    await ceiling.close();
  }
}

/** Resolves with the child's next stdout line that matches; rejects on exit or timeout. */
function nextLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      const line = lines.find((candidate) => pattern.test(candidate));
      if (line !== undefined) finish(() => resolve(line));
    };
    const onExit = (code: number | null) =>
      finish(() => reject(new Error(`worker process exited (${code}) before printing ${pattern}`)));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`worker process printed no ${pattern} within ${timeoutMs} ms`))),
      timeoutMs,
    );
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      settle();
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}
