import type { Config } from '../config/config.ts';
import { createLogger, errorFields, type Logger } from '../log/logger.ts';
import { RedisUnreachableError } from '../redis/awaitRedis.ts';
import { loadConfigOrExit } from './configOrExit.ts';

export type Shutdown = () => Promise<void>;

/**
 * The frame every app's main shares: parse config once, start, and on SIGINT/SIGTERM run the
 * app's graceful shutdown within SHUTDOWN_TIMEOUT_MS, then exit 0 (1 if it failed or overran).
 * A bad configuration exits 1 with every problem listed; past it, every line obeys LOG_LEVEL.
 */
export async function runMain(
  service: string,
  start: (config: Config, log: Logger) => Promise<Shutdown>,
): Promise<void> {
  const config = loadConfigOrExit(service, process.env);
  const log = createLogger(service, config.logLevel);
  // The handlers go in before the app starts: an app logs that it listens from inside `start`, and a
  // supervisor may signal it as soon as it reads that line. A signal during start is kept and acted
  // on once start returns, instead of killing the process with the default action.
  let shutdown: Shutdown | undefined;
  let pendingSignal: string | undefined;
  let stopping = false;
  let overrun: NodeJS.Timeout | undefined;
  const stop = (signal: string) => {
    // The deadline runs from the first signal, so a start that hangs (Redis unreachable) still ends.
    overrun ??= setTimeout(() => {
      log('error', 'shutdown overran its deadline', { deadlineMs: config.shutdownTimeoutMs });
      process.exit(1);
    }, config.shutdownTimeoutMs + 1000).unref();
    if (!shutdown) {
      pendingSignal ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    log('info', 'shutting down', { signal });
    shutdown().then(
      () => {
        log('info', 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log('error', 'shutdown failed', errorFields(error));
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    shutdown = await start(config, log);
  } catch (error) {
    // Redis not there: its message says what to do, and a stack trace would only bury it.
    if (error instanceof RedisUnreachableError) log('error', error.message);
    else log('error', `${service} failed to start`, errorFields(error));
    process.exit(1);
  }
  if (pendingSignal) stop(pendingSignal);
}
