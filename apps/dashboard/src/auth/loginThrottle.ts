import type { RedisClient, Config, Keys } from '@flashline/core';

export type LoginRules = Config['dashboardLogin'];

/** Failed logins so far in the current window, from the address and for the user name. */
export interface LoginFailures {
  ip: number;
  user: number;
}

/**
 * Failed basic-auth logins counted in Redis per client address and per user name, each counter
 * expiring with its window, so memory stays bounded however many addresses or names are tried and
 * every dashboard process shares the count. Past either limit, logins of that address or name are
 * refused until the window ends, right password or not: otherwise guessing would simply go on.
 */
export class LoginThrottle {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly rules: LoginRules,
  ) {}

  /** Milliseconds until `ip` and `user` may try again; 0 when they may now. */
  async blockedFor(ip: string, user: string): Promise<number> {
    const [ipKey, userKey] = [this.keys.loginFailures('ip', ip), this.keys.loginFailures('user', user)];
    const replies = (await this.redis.pipeline().get(ipKey).get(userKey).pttl(ipKey).pttl(userKey).exec()) ?? [];
    const [ipCount, userCount, ipTtl, userTtl] = replies.map(([error, value]) => {
      if (error) throw error;
      return Number(value ?? 0);
    }) as [number, number, number, number];
    const over = (count: number, limit: number) => limit > 0 && count >= limit;
    return Math.max(
      over(ipCount, this.rules.failuresPerIp) ? Math.max(ipTtl, 1) : 0,
      over(userCount, this.rules.failuresPerUser) ? Math.max(userTtl, 1) : 0,
    );
  }

  /** Counts one failed login; the window of a counter starts with its first failure. */
  async recordFailure(ip: string, user: string): Promise<LoginFailures> {
    const [ipKey, userKey] = [this.keys.loginFailures('ip', ip), this.keys.loginFailures('user', user)];
    const { windowMs } = this.rules;
    const replies =
      (await this.redis
        .multi()
        .incr(ipKey)
        .pexpire(ipKey, windowMs, 'NX')
        .incr(userKey)
        .pexpire(userKey, windowMs, 'NX')
        .exec()) ?? [];
    const [ip_, , user_] = replies.map(([error, value]) => {
      if (error) throw error;
      return Number(value);
    });
    return { ip: ip_ ?? 0, user: user_ ?? 0 };
  }
}
