export { freePort, freePorts } from './ports.ts';
export { startRedis, type TestRedis, type TestRedisOptions } from './redisServer.ts';
export { useRedisServer } from './useRedisServer.ts';
export {
  startRedisCluster,
  type ClusterNode,
  type FailoverMode,
  type RedisCluster,
  type RedisClusterOptions,
} from './redisCluster.ts';
export { useRedisCluster } from './useRedisCluster.ts';
export { createCluster } from './clusterCreate.ts';
export { clusterProblems, waitUntilClusterHealthy } from './clusterHealth.ts';
export {
  CLUSTER_SLOTS,
  addressOf,
  askNode,
  clusterNodesOf,
  parseClusterNodes,
  parseInfo,
  type NodeAddress,
  type NodeRole,
  type NodeView,
} from './clusterNodes.ts';
export { startApp, wrap, repoRoot, type AppProcess } from './processes.ts';
export { mapConcurrent, requestJson, type JsonReply } from './http.ts';
export { submitOrders, waitUntilDecided, percentile, type OrderSpec, type Submitted, type OrderView } from './burst.ts';
export { startFaultProxy, type FaultProxy } from './faultProxy.ts';
export {
  ordersQueueKey,
  partitionKey,
  startClusterSystem,
  startSystem,
  SYSTEM_ADMIN_TOKEN,
  type BaseSystem,
  type ClusterSystem,
  type System,
  type SystemOptions,
} from './system.ts';
export { scanKeys } from './scanKeys.ts';
export {
  setUpProducts,
  planOrders,
  submitBurst,
  check,
  violations,
  type CheckReport,
  type Outcome,
  type ProductPlan,
} from './checker.ts';
export { runScenario, products, type ScenarioOptions, type ScenarioResult } from './scenario.ts';
export { startShop, type ShopOutcome, type ShopPlan } from './shop.ts';
export { parseMetrics, samplesOf, sumOf, typeOf, type Sample } from './prometheus.ts';
export { untilActive, untilBacklog, workerWithActiveJob } from './backlog.ts';
export { productsOfOneGroup } from './groups.ts';
export { acceptOrThrow, testAcceptor } from './accept.ts';
export { bodyOf, type ApiBody } from './wire.ts';
export { emptyRedisFiller, fillRedisPastMaxmemory } from './redisFull.ts';
export { snapshotCluster, snapshotDiff, type ClusterSnapshot } from './clusterSnapshot.ts';
export { manyEvents, outboxFields, writeOutboxEvents, type OutboxEvent } from './outbox.ts';
