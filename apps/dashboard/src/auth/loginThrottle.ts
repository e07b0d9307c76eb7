import type { RedisClient, Config, Keys } from '@flashline/core';

export type LoginRules = Config['dashboardLogin'];

/** Failed logins so far in the current window: from the address, for the user name, and both. */
export interface LoginFailures {
  ip: number;
  user: number;
  ipUser: number;
}

/**
 * Failures one address may make for a name that is past its own limit (under attack from many
 * addresses): two, so the operator's one typo does not lock them out, while each guessing address
 * gets two tries a window instead of LOGIN_FAILURES_PER_IP.
 */
export const FAILURES_PER_ADDRESS_UNDER_ATTACK = 2;

/**
 * Failed basic-auth logins counted in Redis per client address, per user name and per address and
 * name, each counter expiring with its window, so memory stays bounded (an address past its limit
 * writes no more) and every dashboard process shares the count.
 *
 * Past the address limit, that address is refused, right password or not: otherwise guessing from
 * it would simply go on. The name's counter never refuses an address by itself, since anyone can
 * push it past its limit and would then lock the operator out: past it, an address that has already
 * failed that name FAILURES_PER_ADDRESS_UNDER_ATTACK times is refused for it, and an address that
 * has not still gets in with the right password.
 */
export class LoginThrottle {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly rules: LoginRules,
  ) {}

  /** Milliseconds until `ip` may try `user` again; 0 when it may now. */
  async blockedFor(ip: string, user: string): Promise<number> {
    const [ipKey, userKey, pairKey] = this.keysOf(ip, user);
    const replies =
      (await this.redis.pipeline().get(ipKey).get(userKey).get(pairKey).pttl(ipKey).pttl(pairKey).exec()) ?? [];
    const [ipCount, userCount, pairCount, ipTtl, pairTtl] = replies.map(([error, value]) => {
      if (error) throw error;
      return Number(value ?? 0);
    }) as [number, number, number, number, number];
    const over = (count: number, limit: number) => limit > 0 && count >= limit;
    const nameUnderAttack = over(userCount, this.rules.failuresPerUser);
    return Math.max(
      over(ipCount, this.rules.failuresPerIp) ? Math.max(ipTtl, 1) : 0,
      nameUnderAttack && pairCount >= FAILURES_PER_ADDRESS_UNDER_ATTACK ? Math.max(pairTtl, 1) : 0,
    );
  }

  /** Counts one failed login; the window of a counter starts with its first failure. */
  async recordFailure(ip: string, user: string): Promise<LoginFailures> {
    const { windowMs } = this.rules;
    const multi = this.redis.multi();
    for (const key of this.keysOf(ip, user)) multi.incr(key).pexpire(key, windowMs, 'NX');
    const replies = (await multi.exec()) ?? [];
    const [ip_, , user_, , ipUser] = replies.map(([error, value]) => {
      if (error) throw error;
      return Number(value);
    });
    return { ip: ip_ ?? 0, user: user_ ?? 0, ipUser: ipUser ?? 0 };
  }

  private keysOf(ip: string, user: string): [string, string, string] {
    return [
      this.keys.loginFailures('ip', ip),
      this.keys.loginFailures('user', user),
      // An address holds no newline, so the first one ends it: no two pairs share a key.
      this.keys.loginFailures('ipUser', `${ip}\n${user}`),
    ];
  }
}
