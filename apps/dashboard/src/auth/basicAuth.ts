import type { RequestHandler } from 'express';
import { AppError, secretMatcher } from '@flashline/core';
import type { DashboardUsers, Principal, Role } from './principal.ts';

/**
 * HTTP basic auth against the two configured users; the user name picks the role. Every user is
 * compared, each in constant time (digests of equal length), so the time taken tells nothing
 * about which part of which user matched. Basic auth, no cookies: nothing a forged cross-site
 * request could ride on, so no CSRF token is needed.
 */
export function basicAuth(users: DashboardUsers): RequestHandler {
  const expected = (Object.keys(users) as Role[]).map((role) => ({
    role,
    user: users[role].user,
    matches: secretMatcher(`${users[role].user}:${users[role].password}`),
  }));
  return (req, res, next) => {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.get('authorization') ?? '');
    const given = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    let principal: Principal | undefined;
    for (const candidate of expected) {
      if (candidate.matches(given) && match) principal = { user: candidate.user, role: candidate.role };
    }
    if (principal) {
      res.locals.principal = principal;
      return next();
    }
    res.set('WWW-Authenticate', 'Basic realm="Flashline dashboard", charset="UTF-8"');
    next(new AppError('unauthorized', 'log in as the viewer (DASHBOARD_VIEWER_USER) or the admin (DASHBOARD_USER)'));
  };
}

/** Lets only `role` through; anyone else gets a 403 `forbidden`. */
export function requireRole(role: Role, what: string): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    next(principal?.role === role ? undefined : new AppError('forbidden', `${what} needs the ${role} role`));
  };
}
