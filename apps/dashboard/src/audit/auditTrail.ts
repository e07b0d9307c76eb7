import type { RequestHandler } from 'express';
import { errorFields, type Logger } from '@flashline/core';
import { principalOf } from '../auth/principal.ts';
import type { AuditLog, NewAuditEntry } from './auditLog.ts';
import { describeBoardAction } from './describeBoardAction.ts';

const reads = new Set(['GET', 'HEAD', 'OPTIONS']);
const now = () => new Date().toISOString();

/**
 * Records every request that could change something on the board. An admin's action is written
 * before it runs (`intent`; if that write fails the action does not run) and again when the
 * response closes: `answered` with the status the client saw, or `client_gone` when the client
 * hung up first, so an action is on record however its connection ends. A viewer's attempt,
 * refused, is recorded once answered (throttled: see AuditLog.refused). Mount it before the
 * viewer guard so refusals are recorded too.
 */
export function auditTrail(audit: AuditLog, log: Logger): RequestHandler {
  const lost = (entry: object) => (error: unknown) => {
    // The operator's log line keeps the record the stream missed.
    log('error', 'audit entry not written', { ...entry, ...errorFields(error) });
  };
  return (req, res, next) => {
    if (reads.has(req.method)) return next();
    const { user, role } = principalOf(res);
    const request = { user, role, method: req.method, path: req.path, ...describeBoardAction(req.path) };
    if (role === 'viewer') {
      res.on('close', () => {
        const entry = { ...request, at: now(), status: res.statusCode };
        audit.refused(entry).catch(lost(entry));
      });
      return next();
    }
    const intent: NewAuditEntry = { ...request, at: now(), phase: 'intent' };
    const written = audit.admin(intent);
    // Listened for before the intent is written: a client may hang up meanwhile.
    res.on('close', () => {
      void written.then((id) => {
        const outcome: NewAuditEntry = res.writableFinished
          ? { ...request, at: now(), phase: 'answered', status: res.statusCode, intent: id }
          : { ...request, at: now(), phase: 'client_gone', intent: id };
        audit.admin(outcome).catch(lost(outcome));
      }, lost(intent));
    });
    written.then(
      () => next(),
      (error: unknown) => next(error),
    );
  };
}
