// `npm test`: every *.test.ts under packages/*/test and apps/*/test, on Node's own runner.
// Node 20's `node --test` finds no .ts files by itself (and then passes with 0 tests), so the
// files are listed here, and a run that executed no test fails.
import { spawn } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['packages', 'apps'];
const only = process.argv.slice(2);
const files = roots
  .flatMap((root) => readdirSync(root).map((name) => join(root, name, 'test')))
  .filter((dir) => existsSync(dir))
  .flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => join(dir, f)),
  )
  .filter((file) => only.length === 0 || only.some((pattern) => file.includes(pattern)))
  .sort();

if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('exit', (code, signal) => {
  const ran = Number(/^# tests (\d+)$/m.exec(tail)?.[1] ?? 0);
  if (ran === 0) {
    console.error('no test ran: failing');
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
