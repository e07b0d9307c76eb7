/** What a mutating Bull Board API call does, read from its path (relative to the board). */
export interface BoardAction {
  action: string;
  queue?: string;
  jobId?: string;
}

// Bull Board 9's routes under /api/queues: `/:queue/retry/:status` and `/:queue/clean/:status`
// act on every job in a state (Express matches them before `/:queue/:jobId/:action`), other
// three-part paths act on one job, two-part paths on the queue, one-part paths on every queue.
const bulkActions = new Set(['retry', 'clean']);

export function describeBoardAction(path: string): BoardAction {
  const match = /^\/api\/queues\/(.+)$/.exec(path);
  if (!match) return { action: path };
  const parts = match[1]!.split('/').map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  const [first = '', second, third] = parts;
  if (parts.length === 1) return { action: `${first}-all` };
  if (parts.length === 2) return { action: second!, queue: first };
  if (parts.length === 3 && bulkActions.has(second!)) return { action: `${second}-all:${third}`, queue: first };
  if (parts.length === 3) return { action: third!, queue: first, jobId: second! };
  // job-schedulers/:id/..., rate-limit/release and whatever a later version adds
  return { action: parts.slice(1).join('/'), queue: first };
}
