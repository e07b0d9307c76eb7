import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/logger.ts';
import { RestartBackoff } from './restarts.ts';

export interface PoolOptions {
  /** The service the processes run (`api`): it names the log lines. */
  service: string;
  processes: number;
  /** Added to each process's environment (what the primary worked out once: generated secrets). */
  env?: Record<string, string>;
  /** Each process's own graceful stop deadline (SHUTDOWN_TIMEOUT_MS); the pool allows it and a little more. */
  shutdownTimeoutMs: number;
  log: Logger;
  /** Once every process listens: what the pool answers on (the first address a process listened on). */
  onListening?: (address: AddressInfo) => void;
}

interface Slot {
  index: number;
  worker?: Worker;
  backoff: RestartBackoff;
  listened: boolean;
}

/**
 * The primary of a pool of processes serving one port (Node's cluster module, as PM2 runs a Node app in
 * cluster mode): it forks `processes` copies of this same entry file, which listen on the port (the
 * primary hands each new connection to one of them in turn), replaces one that dies (backing off if it
 * keeps dying) and, on SIGINT/SIGTERM, passes SIGTERM to every process, whose own graceful stop answers
 * the requests in flight and writes its batches, then exits 0 (1 if a process failed to stop cleanly).
 * The primary holds no connection to Redis and serves no request.
 */
export function runPool(options: PoolOptions): void {
  const { service, processes, log } = options;
  const slots: Slot[] = Array.from({ length: processes }, (_, index) => ({
    index,
    backoff: new RestartBackoff(),
    listened: false,
  }));
  let stopping = false;
  let announced = false;

  const fork = (slot: Slot) => {
    slot.backoff.started();
    slot.listened = false;
    const worker = cluster.fork(options.env);
    slot.worker = worker;
    worker.once('listening', (address: AddressInfo) => {
      slot.listened = true;
      if (announced) {
        log('info', `${service} process replaced`, { pid: worker.process.pid, index: slot.index });
        return;
      }
      if (slots.every((s) => s.listened)) {
        announced = true;
        options.onListening?.(address);
      }
    });
    worker.once('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = undefined;
      if (stopping) return;
      // A process that fails before the pool ever served (bad config, Redis not there: it said why) would
      // fail the same way again: the pool stops with it instead of retrying for ever.
      if (!announced && !slot.listened) {
        log('error', `${service} process failed to start; stopping the pool`, {
          pid: worker.process.pid,
          code,
          signal,
        });
        stop('start-up failure', 1);
        return;
      }
      const inMs = slot.backoff.next();
      log('warn', `${service} process exited; replacing it`, {
        pid: worker.process.pid,
        index: slot.index,
        code,
        signal,
        inMs,
      });
      void sleep(inMs).then(() => stopping || fork(slot));
    });
  };

  const stop = (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    if (exitCode === 0) log('info', 'shutting down', { signal, processes });
    const running = slots.flatMap((slot) => (slot.worker && !slot.worker.isDead() ? [slot.worker] : []));
    const unclean: { pid: number | undefined; code: number | null; signal: string | null }[] = [];
    const exits = running.map(
      (worker) =>
        new Promise<void>((done) =>
          worker.once('exit', (code, exitSignal: string | null) => {
            if (code !== 0 || exitSignal) unclean.push({ pid: worker.process.pid, code, signal: exitSignal });
            done();
          }),
        ),
    );
    // SIGTERM, not cluster's disconnect: each process runs its own graceful stop (runMain).
    for (const worker of running) worker.process.kill('SIGTERM');
    const overrun = setTimeout(() => {
      log('error', 'shutdown overran its deadline', { deadlineMs: options.shutdownTimeoutMs + 2000 });
      for (const worker of running) worker.process.kill('SIGKILL');
    }, options.shutdownTimeoutMs + 2000);
    void Promise.all(exits).then(() => {
      clearTimeout(overrun);
      if (exitCode !== 0) process.exit(exitCode);
      if (unclean.length > 0) log('error', 'stopped; not every process stopped cleanly', { unclean });
      else log('info', 'stopped');
      process.exit(unclean.length > 0 ? 1 : 0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  for (const slot of slots) fork(slot);
}
