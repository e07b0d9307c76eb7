/** One JSON line per event on stdout: easy to grep, and what the supervisor and tests read. */
export type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function createLogger(service: string): Logger {
  return (level, msg, fields = {}) => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, service, msg, ...fields });
    (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
  };
}

export function errorFields(error: unknown): Record<string, unknown> {
  return error instanceof Error ? { error: error.message, errorName: error.name } : { error: String(error) };
}
