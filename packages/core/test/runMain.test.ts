import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/slowStart.ts', import.meta.url));

describe('runMain', () => {
  it('keeps a signal that comes while the app starts, and stops gracefully once it has started', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // A supervisor signals as soon as it reads a line: here, the first one, mid-start.
      if (output.includes('"msg":"starting"') && !child.killed) child.kill('SIGTERM');
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    assert.equal(signal, null, `killed by ${signal} instead of stopping: ${output}`);
    assert.equal(code, 0, output);
    const messages = output
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    assert.deepEqual(messages, ['starting', 'started', 'shutting down', 'cleaned up', 'stopped']);
  });
});
