import type { Request, RequestHandler } from 'express';
import { AppError, bearerToken, secretMatcher } from '@flashline/core';

/** Whether a request carries `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export function adminRequests(adminToken: string): (req: Request) => boolean {
  const isAdminToken = secretMatcher(adminToken);
  return (req) => {
    const token = bearerToken(req.headers.authorization);
    return token !== undefined && isAdminToken(token);
  };
}

/** `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export function requireAdmin(adminToken: string): RequestHandler {
  const isAdmin = adminRequests(adminToken);
  return (req, _res, next) => {
    if (isAdmin(req)) return next();
    next(new AppError('unauthorized', 'send Authorization: Bearer <ADMIN_TOKEN>'));
  };
}
