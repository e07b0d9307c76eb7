import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, loadConfig, type LogLevel } from '../src/index.ts';

/** A logger whose lines (stdout's and stderr's apart) the test keeps as written. */
function capture(level: LogLevel) {
  const out: string[] = [];
  const err: string[] = [];
  const log = createLogger('svc', level, {
    out: { write: (line: string) => void out.push(line) },
    err: { write: (line: string) => void err.push(line) },
  });
  const parsed = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, out: () => parsed(out), err: () => parsed(err), raw: () => [...out, ...err] };
}

describe('the logger', () => {
  it('writes one JSON line per event: level label, ISO time, service, msg and the fields', () => {
    const { log, out, raw } = capture('info');
    log('info', 'api listening', { port: 3000, url: 'http://127.0.0.1:3000' });
    assert.equal(raw().length, 1);
    assert.match(raw()[0]!, /^\{.*\}\n$/);
    const [line] = out();
    const { time, ...rest } = line!;
    assert.equal(typeof time, 'string');
    assert.equal(new Date(time as string).toISOString(), time, 'time is not an ISO string');
    assert.deepEqual(rest, {
      level: 'info',
      service: 'svc',
      msg: 'api listening',
      port: 3000,
      url: 'http://127.0.0.1:3000',
    });
  });

  it('writes errors to stderr only, every other level to stdout', () => {
    const { log, out, err } = capture('debug');
    log('debug', 'd');
    log('info', 'i');
    log('warn', 'w');
    log('error', 'e', { error: 'boom' });
    assert.deepEqual(
      out().map((line) => [line.level, line.msg]),
      [
        ['debug', 'd'],
        ['info', 'i'],
        ['warn', 'w'],
      ],
    );
    assert.deepEqual(
      err().map((line) => [line.level, line.msg, line.error]),
      [['error', 'e', 'boom']],
    );
  });

  it('writes what LOG_LEVEL lets through: info by default, warn drops info, debug passes debug', () => {
    const written = (env: Record<string, string>) => {
      const { log, out, err } = capture(loadConfig(env).logLevel);
      for (const level of ['debug', 'info', 'warn', 'error'] as const) log(level, level);
      return [...out(), ...err()].map((line) => line.msg);
    };
    assert.deepEqual(written({}), ['info', 'warn', 'error']);
    assert.deepEqual(written({ LOG_LEVEL: 'warn' }), ['warn', 'error']);
    assert.deepEqual(written({ LOG_LEVEL: 'debug' }), ['debug', 'info', 'warn', 'error']);
    assert.deepEqual(written({ LOG_LEVEL: 'error' }), ['error']);
  });

  it('refuses an unknown LOG_LEVEL', () => {
    assert.throws(() => loadConfig({ LOG_LEVEL: 'verbose' }), /LOG_LEVEL: debug, info, warn or error/);
  });
});
