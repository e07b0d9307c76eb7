// Ad-hoc: one baseline server in its own process, for node --cpu-prof. Prints its URL, stops on SIGTERM.
import { startNodeOrderServer, startOrderServer } from '../baselines/orderServer.ts';
const server = await (process.argv[2] === 'express' ? startOrderServer : startNodeOrderServer)(async () => {});
console.log(JSON.stringify({ msg: 'api listening', url: server.url }));
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
