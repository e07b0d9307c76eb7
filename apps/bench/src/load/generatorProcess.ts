// A load generator in its own process (forked by `loadTestInChild`): its CPU is not the server's.
// plan -> ready, go -> result, then exit.
import { cpuMsSince } from '../measure.ts';
import { runLoad, type LoadPlan } from './loadTest.ts';
import type { FromGenerator, ToGenerator } from './messages.ts';

let plan: LoadPlan | undefined;

process.on('message', (message: ToGenerator) => {
  if (message.type === 'plan') {
    const { bodies, headers } = message.plan;
    plan = { ...message.plan, payload: (i) => bodies[i]!, headers: (i) => headers?.[i] ?? {} };
    reply({ type: 'ready' });
  } else if (plan) {
    void run(plan);
  }
});

async function run(ready: LoadPlan): Promise<void> {
  const cpuBefore = process.cpuUsage();
  const result = await runLoad(ready);
  reply({ type: 'result', result, cpuMs: cpuMsSince(cpuBefore) }, () => process.exit(0));
}

function reply(message: FromGenerator, then: () => void = () => {}): void {
  process.send!(message, undefined, undefined, then);
}
