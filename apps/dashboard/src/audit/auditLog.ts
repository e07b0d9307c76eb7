import type { Redis } from 'ioredis';
import type { Keys } from '@flashline/core';
import type { Role } from '../auth/principal.ts';

/** One mutating dashboard request: who, what, on which queue and job, when, and how it ended. */
export interface AuditEntry {
  /** Stream id: the time it was written plus a sequence, so entries have one total order. */
  id: string;
  at: string;
  user: string;
  role: Role;
  method: string;
  path: string;
  /** Bull Board's action (`retry`, `clean`, `promote`, `retry-all:failed`, `pause`, ...). */
  action: string;
  queue?: string;
  jobId?: string;
  /** The HTTP status answered: 2xx done, 403 refused (a viewer), 4xx/5xx failed. */
  status: number;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

export const MAX_AUDIT_READ = 1000;

/**
 * The audit log is a Redis stream that is only ever appended to (XADD, never trimmed, never
 * deleted by the dashboard), so its order and completeness do not depend on any process's memory.
 */
export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async append(entry: NewAuditEntry): Promise<string> {
    const fields = Object.entries(entry).flatMap(([name, value]) => (value === undefined ? [] : [name, String(value)]));
    return (await this.redis.xadd(this.keys.audit(), '*', ...fields))!;
  }

  /** The newest `limit` entries, newest first. */
  async newest(limit: number): Promise<AuditEntry[]> {
    const replies = await this.redis.xrevrange(this.keys.audit(), '+', '-', 'COUNT', Math.min(limit, MAX_AUDIT_READ));
    return replies.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return {
        id,
        at: fields.at ?? '',
        user: fields.user ?? '',
        role: fields.role === 'admin' ? 'admin' : 'viewer',
        method: fields.method ?? '',
        path: fields.path ?? '',
        action: fields.action ?? '',
        ...(fields.queue ? { queue: fields.queue } : {}),
        ...(fields.jobId ? { jobId: fields.jobId } : {}),
        status: Number(fields.status ?? 0),
      };
    });
  }
}
