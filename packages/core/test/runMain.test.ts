import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/slowStart.ts', import.meta.url));
const levels = fileURLToPath(new URL('./fixtures/levels.ts', import.meta.url));

/** Runs the levels fixture with LOG_LEVEL (unset when undefined): its exit code and the messages on each stream. */
async function runLevels(logLevel: string | undefined) {
  const env = { ...process.env, LOG_LEVEL: logLevel };
  if (logLevel === undefined) delete env.LOG_LEVEL;
  const child = spawn(process.execPath, ['--import', 'tsx', levels], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const lines = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: string; service: string; msg: string });
  return { code, stdout: lines(output.stdout), stderr: lines(output.stderr) };
}

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

  it('logs at the level the configuration sets, from start to "stopped"', async () => {
    const messages = async (logLevel: string | undefined) => {
      const { code, stdout, stderr } = await runLevels(logLevel);
      assert.equal(code, 0);
      return { stdout: stdout.map((line) => line.msg), stderr: stderr.map((line) => line.msg) };
    };
    assert.deepEqual(await messages(undefined), {
      stdout: ['info', 'warn', 'shutting down', 'stopped'],
      stderr: ['error'],
    });
    assert.deepEqual(await messages('warn'), { stdout: ['warn'], stderr: ['error'] });
    assert.deepEqual(await messages('debug'), {
      stdout: ['debug', 'info', 'warn', 'shutting down', 'stopped'],
      stderr: ['error'],
    });
  });

  it('reports a bad configuration at level error, a bad LOG_LEVEL included', async () => {
    const { code, stdout, stderr } = await runLevels('loud');
    assert.equal(code, 1);
    assert.deepEqual(stdout, []);
    assert.equal(stderr.length, 1);
    assert.equal(stderr[0]?.level, 'error');
    assert.equal(stderr[0]?.service, 'levels');
    assert.match(stderr[0]?.msg ?? '', /LOG_LEVEL: debug, info, warn or error/);
  });
});
