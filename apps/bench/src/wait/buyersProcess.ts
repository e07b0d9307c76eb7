// The buyers of the wait bench in a process of their own (forked by buyers.ts), so that their CPU is
// neither the API's nor the bench's: each buyer on a keep-alive connection of its own, as a browser is.
import { Agent, request } from 'node:http';
import type { BuyersCommand, BuyersResult, BuyerMode, FromBuyers } from './messages.ts';

const started = process.cpuUsage();
const cpuMs = () => {
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000;
};
const reply = (message: FromBuyers, then: () => void = () => {}) => process.send!(message, undefined, undefined, then);

process.on('message', (message: BuyersCommand) => {
  if (message.type === 'cpu') reply({ type: 'cpu', cpuMs: cpuMs() });
  else void run(message.url, message.orderIds, message.mode);
});

interface Answer {
  status: number;
  body: { status?: string; decidedAt?: string };
}

function get(agent: Agent, url: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout: 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] });
        } catch {
          resolve({ status: 0, body: {} });
        }
      });
    });
    req.on('error', () => resolve({ status: 0, body: {} }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function run(url: string, orderIds: string[], mode: BuyerMode): Promise<void> {
  const result: BuyersResult = {
    answeredAt: orderIds.map(() => NaN),
    decidedAt: orderIds.map(() => NaN),
    requests: 0,
    failures: 0,
  };
  let firstSent = 0;
  const sentFirst = () => {
    if (++firstSent === orderIds.length) reply({ type: 'in' });
  };
  const buyer = async (orderId: string, i: number) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const path = `${url}/orders/${orderId}${mode.kind === 'wait' ? `?wait=${mode.waitS}` : ''}`;
    // Buyers arrive spread over a second (the pollers over their interval), as pages opened at different
    // moments do: 10,000 connections at once would overflow the server's listen backlog, and the dropped
    // SYNs' retransmissions (1 s, 3 s, ...) would be measured instead of the server.
    await new Promise((r) => setTimeout(r, Math.random() * (mode.kind === 'poll' ? mode.pollMs : 1000)));
    for (let round = 0; ; round++) {
      const sentAt = Date.now();
      const answering = get(agent, path);
      if (round === 0) setImmediate(sentFirst);
      const answer = await answering;
      result.requests += 1;
      if (answer.status !== 200) result.failures += 1;
      if (answer.body.status && answer.body.status !== 'queued' && answer.body.decidedAt) {
        result.answeredAt[i] = Date.now();
        result.decidedAt[i] = Date.parse(answer.body.decidedAt);
        break;
      }
      if (mode.kind === 'wait' && answer.status === 0) break;
      if (mode.kind === 'poll')
        await new Promise((r) => setTimeout(r, Math.max(0, mode.pollMs - (Date.now() - sentAt))));
    }
    agent.destroy();
  };
  await Promise.all(orderIds.map(buyer));
  reply({ type: 'done', result, cpuMs: cpuMs() }, () => process.exit(0));
}
