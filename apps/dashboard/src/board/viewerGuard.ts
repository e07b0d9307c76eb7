import type { RequestHandler } from 'express';
import { AppError } from '@flashline/core';
import { principalOf } from '../auth/principal.ts';

const reads = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A second lock on the viewer's board, in front of Bull Board's own read-only mode: any request
 * that could change something is refused here, whatever route Bull Board adds in a later version.
 */
export const refuseViewerChanges: RequestHandler = (req, res, next) => {
  if (reads.has(req.method) || principalOf(res).role === 'admin') return next();
  next(
    new AppError('forbidden', 'the viewer role is read-only: retry, promote and clean need the admin (DASHBOARD_USER)'),
  );
};
