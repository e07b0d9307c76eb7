import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { ConfigError, type Config } from './config.ts';

const secretVariables = {
  adminToken: 'ADMIN_TOKEN',
  dashboardPassword: 'DASHBOARD_PASSWORD',
  dashboardViewerPassword: 'DASHBOARD_VIEWER_PASSWORD',
} as const;
type Secret = keyof typeof secretVariables;

/**
 * ADMIN_TOKEN, DASHBOARD_PASSWORD and DASHBOARD_VIEWER_PASSWORD: in production they must be given; elsewhere a missing one
 * is generated and printed once, so a first `npm start` works and still has no known default.
 */
export function withSecrets<S extends Secret>(config: Config, log: Logger, needed: S[]): Config & Record<S, string> {
  const missing = needed.filter((name) => !config[name]);
  if (missing.length > 0 && config.env === 'production') {
    const names = missing.map((name) => secretVariables[name]).join(' and ');
    throw new ConfigError(
      `NODE_ENV=production needs ${names}: set them (ADMIN_TOKEN 16+, the dashboard passwords 8+ characters)`,
    );
  }
  const generated = Object.fromEntries(missing.map((name) => [name, randomBytes(18).toString('base64url')]));
  if (missing.length > 0) {
    log(
      'warn',
      'generated secrets (set them in the environment to keep them)',
      Object.fromEntries(missing.map((name) => [secretVariables[name], generated[name]])),
    );
  }
  return { ...config, ...generated } as Config & Record<S, string>;
}
