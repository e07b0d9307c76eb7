import { prettyFactory } from 'pino-pretty';
import { stdioStreams, type LogStreams } from '@flashline/core';

/**
 * Where the stack writes its own lines and its children's: the JSON lines as they are (what tests,
 * scripts and log drivers read), or pretty-printed when a person watches them on a terminal.
 */
export function stackOutput(terminal: boolean): LogStreams {
  const stdio = stdioStreams();
  if (!terminal) return stdio;
  // One line per event, as in JSON; a line that is not JSON passes unchanged.
  const pretty = prettyFactory({
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    messageFormat: '{if service}{service}: {end}{msg}',
    ignore: 'service',
  });
  const prettyTo = (stream: LogStreams['out']) => ({ write: (line: string) => stream.write(pretty(line.trimEnd())) });
  return { out: prettyTo(stdio.out), err: prettyTo(stdio.err) };
}
