import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * One JSON line per event, `{level, time, service, ...fields, msg}`: easy to grep, and what the
 * supervisor and the tests read. A plain function, so a test may pass `() => {}` for one.
 */
export interface Logger {
  (level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** The pino instance behind it, for pino-http; a test's stub has none (and writes nothing). */
  readonly pino?: PinoLogger;
}

/** Where the lines go: errors to `err`, every other level to `out`. */
export interface LogStreams {
  out: DestinationStream;
  err: DestinationStream;
}

let stdio: LogStreams | undefined;

/**
 * stdout and stderr, written synchronously: the line logged just before `process.exit` ("stopped")
 * is on its way before the process ends. One pair per process, shared by every logger in it.
 */
export function stdioStreams(): LogStreams {
  stdio ??= { out: pino.destination({ dest: 1, sync: true }), err: pino.destination({ dest: 2, sync: true }) };
  return stdio;
}

export function createLogger(service: string, level: LogLevel = 'info', streams = stdioStreams()): Logger {
  const instance = pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The label, not pino's number: `"level":"warn"` is what a person greps and the tests match.
      formatters: { level: (label) => ({ level: label }) },
    },
    // dedupe: a line goes to the most severe stream it reaches only, so an error is not on stdout too.
    pino.multistream(
      [
        { level: 'debug', stream: streams.out },
        { level: 'error', stream: streams.err },
      ],
      { dedupe: true },
    ),
  );
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => instance[level](fields ?? {}, msg);
  return Object.assign(log, { pino: instance });
}

export function errorFields(error: unknown): Record<string, unknown> {
  return error instanceof Error ? { error: error.message, errorName: error.name } : { error: String(error) };
}
