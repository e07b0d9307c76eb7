export {
  seedAlgorithms,
  runSeedAlgorithm,
  SEED_ALGORITHMS,
  type SeedAlgorithm,
  type SeedOptions,
  type SeedResult,
} from './seedAlgorithms.ts';
export { bullmqCeiling, type BullmqCeilingOptions, type BullmqCeilingResult } from './bullmqCeiling.ts';
export { bullmqCeilingProcesses, type BullmqCeilingProcessesOptions } from './bullmqCeilingProcesses.ts';
export { httpCeiling, type HttpCeilingOptions, type HttpCeilingResult, type HttpVariantResult } from './httpCeiling.ts';
export { startOrderServer, type BaselineOrder, type OrderServer } from './orderServer.ts';
