import express, { type Express } from 'express';
import type { Queue } from 'bullmq';
import type { Logger } from '@flashline/core';
import { basicAuth } from './auth/basicAuth.ts';
import type { DashboardUsers } from './auth/principal.ts';
import { AUDIT_PATH, BOARD_PATH, SALE_PATH, createBoards } from './board/boards.ts';
import { refuseViewerChanges } from './board/viewerGuard.ts';
import type { AuditLog } from './audit/auditLog.ts';
import { auditTrail } from './audit/auditTrail.ts';
import { auditRoutes } from './audit/auditRoutes.ts';
import type { SaleFeed } from './sale/saleFeed.ts';
import { saleRoutes } from './sale/saleRoutes.ts';
import { errorHandler, notFound } from './http/errors.ts';

export { AUDIT_PATH, BOARD_PATH, SALE_PATH };

export interface DashboardDeps {
  users: DashboardUsers;
  queues: Queue[];
  /** GET /metrics (see ../metrics.ts), served before basic auth: Prometheus has its own token. */
  metrics?: express.RequestHandler;
  audit: AuditLog;
  sale: SaleFeed;
  log: Logger;
}

/**
 * The operators' app. Everything but /healthz is behind basic auth: the viewer reads Bull Board
 * (read-only, job data redacted) and the sale panel; the admin also retries, promotes, cleans
 * (each change written to the audit log) and reads the audit log.
 */
export function createDashboardApp({ users, queues, audit, sale, log, metrics }: DashboardDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  if (metrics) app.get('/metrics', metrics);
  app.use(basicAuth(users));
  app.get('/', (_req, res) => res.redirect(BOARD_PATH));
  app.use(BOARD_PATH, auditTrail(audit, log), refuseViewerChanges, createBoards(queues));
  app.use(AUDIT_PATH, auditRoutes(audit));
  app.use(SALE_PATH, saleRoutes(sale));
  app.use(notFound);
  app.use(errorHandler(log));
  return app;
}
