import type { RequestHandler } from 'express';
import { AppError, bearerToken, secretMatcher } from '@flashline/core';

/** `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export function requireAdmin(adminToken: string): RequestHandler {
  const isAdminToken = secretMatcher(adminToken);
  return (req, _res, next) => {
    const token = bearerToken(req.get('authorization'));
    if (token !== undefined && isAdminToken(token)) return next();
    next(new AppError('unauthorized', 'send Authorization: Bearer <ADMIN_TOKEN>'));
  };
}
