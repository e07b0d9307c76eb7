import type { RequestHandler } from 'express';
import { errorFields, type Logger } from '@flashline/core';
import type { Principal } from '../auth/principal.ts';
import type { AuditLog } from './auditLog.ts';
import { describeBoardAction } from './describeBoardAction.ts';

const reads = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Records every request that could change something on the board: an admin's actions with their
 * outcome, and a viewer's refused attempts. Written once the response is finished, so the entry
 * holds the status the client saw. Mount it before the viewer guard so refusals are recorded too.
 */
export function auditTrail(audit: AuditLog, log: Logger): RequestHandler {
  return (req, res, next) => {
    if (reads.has(req.method)) return next();
    const principal = res.locals.principal as Principal;
    const path = req.path;
    res.on('finish', () => {
      const entry = {
        at: new Date().toISOString(),
        user: principal.user,
        role: principal.role,
        method: req.method,
        path,
        ...describeBoardAction(path),
        status: res.statusCode,
      };
      audit.append(entry).catch((error: unknown) => {
        // The action already happened: the operator's log line keeps the record the stream missed.
        log('error', 'audit entry not written', { ...entry, ...errorFields(error) });
      });
    });
    next();
  };
}
