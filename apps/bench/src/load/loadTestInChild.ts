import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuMsSince } from '../measure.ts';
import type { LoadTestOptions, LoadTestResult } from './loadTest.ts';
import type { FromGenerator, SerializedPlan, ToGenerator } from './messages.ts';

const entry = fileURLToPath(new URL('./generatorProcess.ts', import.meta.url));
const benchDir = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildLoadTestResult extends LoadTestResult {
  /** CPU the generator process spent sending and reading. */
  generatorCpuMs: number;
  /** CPU this (the calling) process spent meanwhile: the server's, when the server runs here. */
  callerCpuMs: number;
}

/**
 * `loadTest` from a forked process, so the generator's CPU (fetch is not free) is neither taken
 * from a server running in this process nor counted as the server's. Bodies and headers are
 * computed here up front and sent over IPC before the clock starts.
 */
export async function loadTestInChild(options: LoadTestOptions): Promise<ChildLoadTestResult> {
  const plan: SerializedPlan = {
    url: options.url,
    concurrency: options.concurrency,
    total: options.total,
    method: options.method ?? 'POST',
    timeoutMs: options.timeoutMs ?? 10_000,
    bodies: Array.from({ length: options.total }, (_, i) => JSON.stringify(options.body(i))),
    headers: options.headers ? Array.from({ length: options.total }, (_, i) => options.headers!(i)) : null,
    transport: options.transport ?? 'http',
  };
  // cwd inside the repo: `--import tsx` resolves from there (the root node_modules).
  const child = fork(entry, [], {
    cwd: benchDir,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const send = (message: ToGenerator) => child.send(message);
  let cpuBefore: NodeJS.CpuUsage | undefined;
  try {
    return await new Promise<ChildLoadTestResult>((resolve, reject) => {
      child.on('message', (message: FromGenerator) => {
        if (message.type === 'ready') {
          cpuBefore = process.cpuUsage();
          send({ type: 'go' });
        } else {
          resolve({ ...message.result, generatorCpuMs: message.cpuMs, callerCpuMs: cpuMsSince(cpuBefore!) });
        }
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Error(`load generator exited (${code ?? signal}) before answering`)),
      );
      send({ type: 'plan', plan });
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}
