import type { Response } from 'express';

/** viewer: reads everything (job data redacted), changes nothing. admin: may retry, promote, clean. */
export type Role = 'viewer' | 'admin';

export interface Principal {
  user: string;
  role: Role;
}

export interface Credentials {
  user: string;
  password: string;
}

export type DashboardUsers = Record<Role, Credentials>;

/** Who is asking; set by `basicAuth` before any other dashboard route runs. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  // A route mounted before basicAuth by mistake must fail loudly, never run as nobody.
  if (!principal) throw new Error('principalOf called on a request that basicAuth did not authenticate');
  return principal;
}
