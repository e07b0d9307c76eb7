import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { RestartBackoff, type Logger, type LogStreams } from '@flashline/core';

export interface ProcessSpec {
  name: string;
  entry: string;
}

export interface SupervisorOptions {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Where the children's lines are passed on to (their stderr to `err`). */
  output: LogStreams;
  /** Each line a child prints, as it printed it. */
  onLine: (name: string, line: string) => void;
}

interface Supervised {
  spec: ProcessSpec;
  child?: ChildProcess;
  backoff: RestartBackoff;
}

/**
 * Runs the apps as child processes, passes their log lines through, restarts one that dies
 * (backing off: RestartBackoff), and stops them all together.
 */
export class Supervisor {
  private readonly processes: Supervised[] = [];
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  start(spec: ProcessSpec): void {
    const supervised: Supervised = { spec, backoff: new RestartBackoff() };
    this.processes.push(supervised);
    this.launch(supervised);
  }

  private launch(supervised: Supervised): void {
    const child = spawn(process.execPath, ['--import', 'tsx', supervised.spec.entry], {
      env: this.options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    supervised.child = child;
    supervised.backoff.started();
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        const { output, onLine } = this.options;
        (stream === child.stderr ? output.err : output.out).write(`${line}\n`);
        onLine(supervised.spec.name, line);
      });
    }
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      const delay = supervised.backoff.next();
      this.options.log('warn', 'process exited; restarting', {
        process: supervised.spec.name,
        code,
        signal,
        inMs: delay,
      });
      void sleep(delay).then(() => this.stopping || this.launch(supervised));
    });
  }

  /** SIGTERM to every child; SIGKILL to any still running after `deadlineMs`. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    const running = this.processes
      .map((p) => p.child)
      .filter((c): c is ChildProcess => !!c && c.exitCode === null && c.signalCode === null);
    // 'close', not 'exit': it comes once the child's output pipes are drained too, so its last log
    // lines ("stopped") are forwarded before the supervisor reports the stack stopped and exits.
    const exits = running.map((child) => new Promise<void>((done) => child.once('close', () => done())));
    for (const child of running) child.kill('SIGTERM');
    const timer = setTimeout(() => running.forEach((child) => child.kill('SIGKILL')), deadlineMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }
}
