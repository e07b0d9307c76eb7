import { loadConfig, ConfigError, type Config } from '../config/config.ts';
import { createLogger, type LogStreams } from '../log/logger.ts';

/**
 * The configuration, or every problem with it logged and exit 1. That line is written at level
 * error by a logger of its own: the level the configuration sets is part of what failed to parse,
 * and an error passes every level anyway.
 */
export function loadConfigOrExit(
  service: string,
  env: Record<string, string | undefined>,
  streams?: LogStreams,
): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger(service, 'error', streams)('error', error.message);
    process.exit(1);
  }
}
