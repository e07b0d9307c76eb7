// One HTTP ceiling server (node:http or Express, no Redis) in its own process under node --cpu-prof and wrk:
// its CPU per request, and its profile under <tmpdir>/flashline-profile/baseline-<kind>/.
// node --import tsx apps/bench/src/profile/profileBaseline.ts <node|express> [requests]
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, wrap } from '@flashline/test-utils';
import { wrkLoad } from '../load/wrk.ts';
import { cpuSeconds } from '../flashline/cpu.ts';
const kind = process.argv[2] ?? 'node';
const total = Number(process.argv[3] ?? 30000);
const dir = join(tmpdir(), 'flashline-profile', `baseline-${kind}`);
mkdirSync(dir, { recursive: true });
const child = wrap(
  spawn(
    process.execPath,
    ['--cpu-prof', '--cpu-prof-dir', dir, '--import', 'tsx', 'apps/bench/src/profile/baselineServer.ts', kind],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ),
);
const { url } = (await child.waitForLog(/api listening/)) as { url: string };
const load = (n: number) =>
  wrkLoad({
    url: `${url}/orders`,
    concurrency: 64,
    total: n,
    body: (i) => ({ productId: 'p', userId: `u${i}`, quantity: 1 }),
    idempotencyKeyPrefix: 'k',
  });
await load(2000);
const before = cpuSeconds(child.child.pid!);
const r = await load(total);
const cpu = cpuSeconds(child.child.pid!) - before;
await child.stop();
console.log(
  JSON.stringify({ kind, rps: r.requestsPerSecond, statuses: r.statusCounts, cpuUsPerRequest: (cpu * 1e6) / r.total }),
);
