import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BuyerMode, BuyersCommand, BuyersResult, FromBuyers } from './messages.ts';

const entry = fileURLToPath(new URL('./buyersProcess.ts', import.meta.url));
const benchDir = fileURLToPath(new URL('../../', import.meta.url));

export interface Buyers {
  /** Resolves once every buyer has sent its first request. */
  readonly in: Promise<void>;
  readonly done: Promise<{ result: BuyersResult; cpuMs: number }>;
  /** CPU milliseconds the buyers' process has spent so far. */
  cpuMs(): Promise<number>;
  readonly pid: number;
  kill(): void;
}

/** Forks the buyers' process and sets each of `orderIds`' buyers asking for its order, as `mode` says. */
export function startBuyers(url: string, orderIds: string[], mode: BuyerMode): Buyers {
  const child: ChildProcess = fork(entry, [], {
    cwd: benchDir,
    execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const send = (message: BuyersCommand) => child.send(message);
  let cpuWaiter: ((cpuMs: number) => void) | undefined;
  let onIn!: () => void;
  const inPromise = new Promise<void>((resolve) => (onIn = resolve));
  const done = new Promise<{ result: BuyersResult; cpuMs: number }>((resolve, reject) => {
    child.on('message', (message: FromBuyers) => {
      if (message.type === 'in') onIn();
      else if (message.type === 'cpu') cpuWaiter?.(message.cpuMs);
      else resolve({ result: message.result, cpuMs: message.cpuMs });
    });
    child.once('exit', (code, signal) => reject(new Error(`the buyers' process exited (${code ?? signal})`)));
  });
  done.catch(() => {});
  send({ type: 'go', url, orderIds, mode });
  return {
    in: inPromise,
    done,
    pid: child.pid!,
    cpuMs: () =>
      new Promise((resolve) => {
        cpuWaiter = resolve;
        send({ type: 'cpu' });
      }),
    kill: () => {
      if (child.exitCode === null) child.kill();
    },
  };
}
