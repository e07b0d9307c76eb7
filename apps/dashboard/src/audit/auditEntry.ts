import type { Role } from '../auth/principal.ts';

/**
 * What an entry records. An admin's action is written twice: `intent` before it runs, then
 * `answered` (with the status sent) or `client_gone` (the client hung up before the answer, so
 * the action may or may not have been applied: the job's state tells). A viewer's attempt is
 * `refused`, with how many attempts of its kind the entry stands for.
 */
export type AuditPhase = 'intent' | 'answered' | 'client_gone' | 'refused';

/** One mutating dashboard request: who, what, on which queue and job, when, and how it ended. */
export interface AuditEntry {
  /** Stream id: the time it was written plus a sequence, so the entries of one stream have one total order. */
  id: string;
  at: string;
  user: string;
  role: Role;
  method: string;
  /** The path as sent, cut to MAX_FIELD_CHARS (as is every text field). */
  path: string;
  /** Bull Board's action (`retry`, `clean`, `promote`, `retry-all:failed`, `pause`, ...). */
  action: string;
  queue?: string;
  jobId?: string;
  phase: AuditPhase;
  /** The HTTP status answered (`answered`, `refused`). */
  status?: number;
  /** `answered`, `client_gone`: the id of the action's `intent` entry. */
  intent?: string;
  /** `refused`: this attempt and those of its kind refused since the previous entry of the kind. */
  count?: number;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

/**
 * Any text field is cut to this: a path, a job id or a queue name comes from the request, and a
 * client could otherwise make each entry as large as the server's header limit.
 */
export const MAX_FIELD_CHARS = 200;

const cut = (text: string) => (text.length > MAX_FIELD_CHARS ? `${text.slice(0, MAX_FIELD_CHARS - 1)}…` : text);

/** The entry as a stream's flat field list, every text cut to size. */
export function toFields(entry: NewAuditEntry): string[] {
  return Object.entries(entry).flatMap(([name, value]) =>
    value === undefined ? [] : [name, typeof value === 'string' ? cut(value) : String(value)],
  );
}

const phases = new Set<string>(['intent', 'answered', 'client_gone', 'refused']);

export function fromFields(id: string, flat: string[]): AuditEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  const optional = (name: string) => (fields[name] === undefined ? {} : { [name]: fields[name] });
  const number = (name: string) => (fields[name] === undefined ? {} : { [name]: Number(fields[name]) });
  return {
    id,
    at: fields.at ?? '',
    user: fields.user ?? '',
    role: fields.role === 'admin' ? 'admin' : 'viewer',
    method: fields.method ?? '',
    path: fields.path ?? '',
    action: fields.action ?? '',
    ...optional('queue'),
    ...optional('jobId'),
    phase: (phases.has(fields.phase ?? '') ? fields.phase : 'answered') as AuditPhase,
    ...number('status'),
    ...optional('intent'),
    ...number('count'),
  };
}

/** Stream ids compared as they order: milliseconds, then sequence. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}
