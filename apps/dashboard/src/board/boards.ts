import { Router, type Express, type RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { IMiscLink } from '@bull-board/api/typings/app';
import { principalOf, type Role } from '../auth/principal.ts';
import { createJobDataRedactor } from './redactJobData.ts';

export const BOARD_PATH = '/admin/queues';
export const SALE_PATH = '/sale';
export const AUDIT_PATH = '/admin/audit';

const links: Record<Role, IMiscLink[]> = {
  viewer: [{ text: 'Sale panel', url: SALE_PATH }],
  admin: [
    { text: 'Sale panel', url: SALE_PATH },
    { text: 'Audit log', url: AUDIT_PATH },
  ],
};

/**
 * One Bull Board per role, both at BOARD_PATH: the viewer's is read-only inside Bull Board itself
 * (its API refuses every mutating handler, 405) and shows redacted job data; the admin's is the
 * full board. The role picks the board, so a viewer never reaches the admin's handlers at all.
 */
export function createBoards(queues: Queue[]): RequestHandler {
  const redact = createJobDataRedactor();
  const build = (role: Role) => {
    const adapter = new ExpressAdapter();
    adapter.setBasePath(BOARD_PATH);
    createBullBoard({
      queues: queues.map((queue) => {
        const board = new BullMQAdapter(queue, { readOnlyMode: role === 'viewer' });
        if (role === 'viewer') board.setFormatter('data', redact);
        return board;
      }),
      serverAdapter: adapter,
      options: {
        uiConfig: {
          boardTitle: role === 'admin' ? 'Flashline (admin)' : 'Flashline (viewer)',
          miscLinks: links[role],
          // The viewer's page then asks no Redis INFO (which the viewer guard refuses anyway).
          hideRedisDetails: role === 'viewer',
        },
      },
    });
    const boardApp = adapter.getRouter() as Express;
    // The adapter is an Express app of its own, which would announce itself on every board response.
    boardApp.disable('x-powered-by');
    return boardApp as RequestHandler;
  };
  const boards: Record<Role, RequestHandler> = { viewer: build('viewer'), admin: build('admin') };
  const router = Router();
  router.use((req, res, next) => boards[principalOf(res).role](req, res, next));
  return router;
}
