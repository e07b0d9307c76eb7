import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '@flashline/core';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export function requireAdmin(adminToken: string): RequestHandler {
  const expected = digest(adminToken);
  return (req, _res, next) => {
    const match = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    if (match && timingSafeEqual(digest(match[1]!), expected)) return next();
    next(new AppError('unauthorized', 'send Authorization: Bearer <ADMIN_TOKEN>'));
  };
}
