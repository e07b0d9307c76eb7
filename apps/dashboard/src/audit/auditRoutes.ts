import { Router } from 'express';
import { AppError } from '@flashline/core';
import { requireRole } from '../auth/basicAuth.ts';
import { MAX_AUDIT_READ, type AuditLog } from './auditLog.ts';

/** GET /admin/audit?limit=N: the newest N entries (default 100), newest first; admins only. */
export function auditRoutes(audit: AuditLog): Router {
  const router = Router();
  router.get('/', requireRole('admin', 'the audit log'), async (req, res) => {
    const raw = req.query.limit ?? '100';
    const limit = typeof raw === 'string' && /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
    if (!(limit >= 1 && limit <= MAX_AUDIT_READ))
      throw new AppError('invalid_request', `limit must be an integer from 1 to ${MAX_AUDIT_READ}`);
    res.json({ entries: await audit.newest(limit) });
  });
  return router;
}
