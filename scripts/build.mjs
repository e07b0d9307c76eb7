// `npm run build`: the services as JavaScript (packages/core, apps/api, apps/worker, apps/dashboard), each into
// its own dist/, so that production runs no transpiler (the image: `node --conditions=flashline-dist
// apps/api/dist/src/main.js`; the condition points `@flashline/core` at its dist/). Development and the tests
// run the TypeScript sources through tsx, as before. The files the code reads at run time (Lua scripts, the
// sale panel) are copied next to the JavaScript that reads them.
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
for (const dir of ['packages/core', 'apps/api', 'apps/worker', 'apps/dashboard'])
  rmSync(`${dir}/dist`, { recursive: true, force: true });
const built = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);
for (const assets of ['packages/core/src/lua', 'apps/dashboard/src/panel']) {
  cpSync(assets, assets.replace('/src/', '/dist/src/'), { recursive: true });
}
console.log('built: packages/core, apps/api, apps/worker, apps/dashboard (dist/)');
