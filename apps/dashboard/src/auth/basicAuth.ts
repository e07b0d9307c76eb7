import type { RequestHandler } from 'express';
import { AppError, secretMatcher, type Logger } from '@flashline/core';
import type { DashboardUsers, Principal, Role } from './principal.ts';
import type { LoginThrottle } from './loginThrottle.ts';

/** A user name as logged and counted: whatever a client sends, cut to this. */
const MAX_USER_CHARS = 64;

/**
 * HTTP basic auth against the two configured users; the user name picks the role. Every user is
 * compared, each in constant time (digests of equal length), so the time taken tells nothing
 * about which part of which user matched. Failed logins are logged and throttled per client
 * address and, for a name guessed from many addresses, per address and name (`throttle`): past a
 * limit, 429 with Retry-After; the right password from a clean address always gets in. A request without
 * credentials is not a failure: a browser sends one before it asks the operator for a password.
 */
export function basicAuth(users: DashboardUsers, throttle: LoginThrottle, log: Logger): RequestHandler {
  const expected = (Object.keys(users) as Role[]).map((role) => ({
    role,
    user: users[role].user,
    matches: secretMatcher(`${users[role].user}:${users[role].password}`),
  }));
  const challenge = (res: Parameters<RequestHandler>[1]) =>
    res.set('WWW-Authenticate', 'Basic realm="Flashline dashboard", charset="UTF-8"');
  const refused = () =>
    new AppError('unauthorized', 'log in as the viewer (DASHBOARD_VIEWER_USER) or the admin (DASHBOARD_USER)');

  return async (req, res, next) => {
    const header = req.get('authorization');
    if (header === undefined) {
      challenge(res);
      return next(refused());
    }
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    const given = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const user = given.split(':', 1)[0]!.slice(0, MAX_USER_CHARS);
    const ip = req.ip ?? '';
    const waitMs = await throttle.blockedFor(ip, user);
    if (waitMs > 0) {
      const retryAfterS = Math.ceil(waitMs / 1000);
      res.set('Retry-After', String(retryAfterS));
      return next(new AppError('rate_limited', `too many failed logins: retry in ${retryAfterS} s`));
    }
    let principal: Principal | undefined;
    for (const candidate of expected) {
      if (candidate.matches(given) && match) principal = { user: candidate.user, role: candidate.role };
    }
    if (principal) {
      res.locals.principal = principal;
      return next();
    }
    const failures = await throttle.recordFailure(ip, user);
    const { failuresPerIp, failuresPerUser, windowMs } = throttle.rules;
    log('warn', 'dashboard login failed', { ip, user, failuresFromIp: failures.ip, failuresForUser: failures.user });
    if (failures.ip === failuresPerIp) log('warn', 'dashboard logins throttled', { ip, user, windowMs });
    // Past this the name is guessed from many addresses: each address gets a few tries at it.
    if (failures.user === failuresPerUser) log('warn', 'dashboard user name under attack', { user, windowMs });
    challenge(res);
    next(refused());
  };
}

/** Lets only `role` through; anyone else gets a 403 `forbidden`. */
export function requireRole(role: Role, what: string): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    next(principal?.role === role ? undefined : new AppError('forbidden', `${what} needs the ${role} role`));
  };
}
