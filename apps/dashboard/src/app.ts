import express, { type Express } from 'express';
import type { Queue } from 'bullmq';
import type { Config, Logger } from '@flashline/core';
import { basicAuth } from './auth/basicAuth.ts';
import type { LoginThrottle } from './auth/loginThrottle.ts';
import type { DashboardUsers } from './auth/principal.ts';
import { AUDIT_PATH, BOARD_PATH, SALE_PATH, createBoards } from './board/boards.ts';
import { refuseViewerChanges } from './board/viewerGuard.ts';
import { refuseCrossSiteChanges } from './board/crossSiteGuard.ts';
import type { AuditLog } from './audit/auditLog.ts';
import { auditTrail } from './audit/auditTrail.ts';
import { auditRoutes } from './audit/auditRoutes.ts';
import type { SaleFeed } from './sale/saleFeed.ts';
import { saleRoutes, type StreamLimits } from './sale/saleRoutes.ts';
import { errorHandler, notFound } from './http/errors.ts';
import { securityHeaders } from './http/securityHeaders.ts';

export { AUDIT_PATH, BOARD_PATH, SALE_PATH };

export interface DashboardDeps {
  users: DashboardUsers;
  queues: Queue[];
  /** GET /metrics (see ../metrics.ts), served before basic auth: Prometheus has its own token. */
  metrics?: express.RequestHandler;
  audit: AuditLog;
  sale: SaleFeed;
  streams: StreamLimits;
  login: LoginThrottle;
  /** Express's `trust proxy` (TRUST_PROXY): which address a failed login is counted against. */
  trustProxy?: Config['trustProxy'];
  log: Logger;
}

/**
 * The operators' app. Everything but /healthz is behind basic auth: the viewer reads Bull Board
 * (read-only, job data redacted) and the sale panel; the admin also retries, promotes, cleans
 * (each change written to the audit log) and reads the audit log.
 */
export function createDashboardApp(deps: DashboardDeps): Express {
  const { users, queues, audit, sale, streams, login, log, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  app.use(securityHeaders);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  if (metrics) app.get('/metrics', metrics);
  app.use(basicAuth(users, login, log));
  app.get('/', (_req, res) => res.redirect(BOARD_PATH));
  app.use(BOARD_PATH, auditTrail(audit, log), refuseViewerChanges, refuseCrossSiteChanges, createBoards(queues));
  app.use(AUDIT_PATH, auditRoutes(audit));
  app.use(SALE_PATH, saleRoutes(sale, streams, log));
  app.use(notFound);
  app.use(errorHandler(log));
  return app;
}
