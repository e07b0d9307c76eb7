import { hostname } from 'node:os';

/**
 * This process as `host:pid`: how a worker names itself on the jobs it runs (BullMQ's processedBy),
 * in its metrics, and in the locks it holds. Parsed back only by `pidOf`.
 */
export const processName = (): string => `${hostname()}:${process.pid}`;

/** The pid in a `host:pid` name; NaN when there is none. */
export function pidOf(name: string): number {
  const at = name.lastIndexOf(':');
  return at === -1 ? Number.NaN : Number(name.slice(at + 1));
}
