import type { RequestHandler } from 'express';
import { AppError } from '@flashline/core';
import { principalOf } from '../auth/principal.ts';

const reads = new Set(['GET', 'HEAD', 'OPTIONS']);

// Bull Board's routes that describe the server rather than the queue: /api/redis/stats answers from
// Redis INFO (version, memory, clients, OS), /api/metrics/* (with a history provider) the recorded
// history and its storage. Admin only.
const serverDetails = /^\/api\/(redis|metrics)(\/|$)/;

/**
 * A second lock on the viewer's board, in front of Bull Board's own read-only mode: any request
 * that could change something is refused here, whatever route Bull Board adds in a later version,
 * and so is any read of the server's details.
 */
export const refuseViewerChanges: RequestHandler = (req, res, next) => {
  if (principalOf(res).role === 'admin') return next();
  if (serverDetails.test(req.path))
    return next(new AppError('forbidden', "the Redis server's details are for the admin (DASHBOARD_USER)"));
  if (reads.has(req.method)) return next();
  next(
    new AppError('forbidden', 'the viewer role is read-only: retry, promote and clean need the admin (DASHBOARD_USER)'),
  );
};
