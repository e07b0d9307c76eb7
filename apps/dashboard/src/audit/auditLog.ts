import type { RedisClient, Config, Keys } from '@flashline/core';
import { actionKind } from './describeBoardAction.ts';
import { compareStreamIds, fromFields, toFields, type AuditEntry, type NewAuditEntry } from './auditEntry.ts';

export type { AuditEntry, NewAuditEntry } from './auditEntry.ts';

export const MAX_AUDIT_READ = 1000;

export type AuditSettings = Config['audit'];

/** A kind's skipped count outlives its window this long: long enough to reach the kind's next entry. */
const SKIPPED_TTL_S = 24 * 3600;

/**
 * The audit log: two Redis streams. Admin actions go to `keys.audit()`, trimmed only by age (entries
 * older than the retention, as new ones are written), so nothing a viewer does can push one out.
 * A viewer's refused attempts go to `keys.auditRefused()`, capped at about `refusedMax` entries and
 * collapsed to one entry per viewer and kind of action per `refusedEveryMs`, carrying a count.
 */
export class AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly settings: AuditSettings,
  ) {}

  /** Writes one entry of an admin action; resolves to its stream id. */
  async admin(entry: NewAuditEntry): Promise<string> {
    // MINID ~: Redis drops whole old nodes of the stream only, cheaply, so it may keep a few older entries.
    const oldest = Date.now() - this.settings.retentionMs;
    return (await this.redis.xadd(this.keys.audit(), 'MINID', '~', String(oldest), '*', ...toFields(entry)))!;
  }

  /** Records a viewer's refused attempt: written when its kind's window is open, else only counted. */
  async refused(entry: Omit<NewAuditEntry, 'phase' | 'count'>): Promise<void> {
    const kind = [entry.user, entry.method, actionKind(entry.action), entry.jobId === undefined ? 'queue' : 'job'].join(
      '\n',
    );
    const skipped = this.keys.auditRefusedSkipped(kind);
    const opened = await this.redis.set(
      this.keys.auditRefusedGate(kind),
      '1',
      'PX',
      this.settings.refusedEveryMs,
      'NX',
    );
    if (opened === null) {
      await this.redis.multi().incr(skipped).expire(skipped, SKIPPED_TTL_S).exec();
      return;
    }
    const carried = Number((await this.redis.getdel(skipped)) ?? 0);
    const fields = toFields({ ...entry, phase: 'refused', count: 1 + carried });
    await this.redis.xadd(this.keys.auditRefused(), 'MAXLEN', '~', String(this.settings.refusedMax), '*', ...fields);
  }

  /** The newest `limit` entries of both streams, newest first. */
  async newest(limit: number): Promise<AuditEntry[]> {
    const count = Math.min(limit, MAX_AUDIT_READ);
    const [admin, refused] = await Promise.all(
      [this.keys.audit(), this.keys.auditRefused()].map((key) => this.redis.xrevrange(key, '+', '-', 'COUNT', count)),
    );
    return [...admin!, ...refused!]
      .map(([id, flat]) => fromFields(id, flat))
      .sort((a, b) => compareStreamIds(b.id, a.id))
      .slice(0, count);
  }
}
