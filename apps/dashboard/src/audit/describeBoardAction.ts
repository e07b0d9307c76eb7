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

// Bull Board 9's mutating actions, as describeBoardAction names them.
const knownActions = new Set([
  'retry',
  'clean',
  'promote',
  'add',
  'pause',
  'resume',
  'empty',
  'obliterate',
  'concurrency',
  'rate-limit',
  'rate-limit/release',
  'update-data',
  'delay',
  'priority',
  'remove-unprocessed-children',
  'pause-all',
  'resume-all',
  'retry-all',
  'clean-all',
  'job-schedulers',
]);

/**
 * The kind of an action, from a small closed set: the path's free parts (a state, a scheduler id,
 * an invented action) fold into `other`, so a client varying them cannot make a new kind each time.
 */
export function actionKind(action: string): string {
  const head = /^(retry-all|clean-all|job-schedulers)[:/]/.exec(action)?.[1] ?? action;
  return knownActions.has(head) ? head : 'other';
}
