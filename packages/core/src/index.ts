export { loadConfig, ConfigError, type Config, type LockSettings } from './config/config.ts';
export type { BuyerTokenAlgorithm, BuyerTokens } from './config/buyerTokens.ts';
export {
  AppError,
  httpStatusByCode,
  isRedisFull,
  isRedisUnavailable,
  toAppError,
  type ErrorCode,
} from './errors/appError.ts';
export { bullmqKey, createKeys, hashTagOf, PRODUCT_GROUPS, queuePrefixOf, type Keys } from './keys/keys.ts';
export {
  createLogger,
  errorFields,
  stdioStreams,
  LOG_LEVELS,
  type Logger,
  type LogLevel,
  type LogStreams,
} from './log/logger.ts';
export { connectRedis, waitUntilReady, type RedisClient, type RedisRole } from './redis/connect.ts';
export { awaitRedis, redisLocation, RedisUnreachableError } from './redis/awaitRedis.ts';
export { waitForReplicas, type Replication } from './redis/replication.ts';
export { pipelineBySlot, type PipelineReply } from './redis/slotPipeline.ts';
export { createReadiness, createWorkerReadiness, type Readiness, type WorkerReadiness } from './redis/readiness.ts';
export { ProductLocks, lockHolder, type Lease, type LockObserver } from './locks/productLock.ts';
export {
  adjustStock,
  getProduct,
  getTaggedProduct,
  listProducts,
  setProduct,
  type Product,
  type TaggedProduct,
} from './products/products.ts';
export {
  idSchema,
  idempotencyKeySchema,
  orderIdSchema,
  orderRequestSchema,
  tokenOrderRequestSchema,
  productUpdateSchema,
  stockDeltaSchema,
  type OrderRequest,
  type ProductUpdate,
} from './orders/schemas.ts';
export { newBatchId, newOrderId, productOfOrder } from './orders/orderId.ts';
export {
  getOrder,
  orderFromFields,
  reopenOrder,
  type Order,
  type OrderEventType,
  type OrderStatus,
  type RejectReason,
  type Decision,
} from './orders/order.ts';
export { failOrders } from './orders/failOrders.ts';
export { EXPIRE_HOLDS_PER_CALL, expireHolds, holdRulesOf, settleHold, type HoldRules } from './orders/holds.ts';
export { HOLD_TIMER_SLOT_MS, HoldTimers } from './orders/holdTimers.ts';
export {
  HOLDS_QUEUE,
  createHoldsQueues,
  holdsPartitionQueue,
  type HoldExpiryJob,
  type HoldsQueues,
} from './queue/holdsQueue.ts';
export { decidedIdsOf, isDecided, publishDecided } from './orders/decisions.ts';
export { OrderWaiters, type OrderWaitersDeps, type Waiting, type Woken } from './orders/orderWaiters.ts';
export { subscribe, type Subscription, type SubscriptionHandlers } from './redis/subscriber.ts';
export {
  createOrderAcceptor,
  type AcceptOutcome,
  type AcceptSettings,
  type OrderAcceptor,
} from './orders/acceptOrder.ts';
export { AcceptBatcher, type AcceptBatcherDeps, type AcceptEntry, type Accepted } from './orders/acceptBatcher.ts';
export { commitSections, type CommitResult, type CommitRules, type CommitSection } from './orders/commitOrder.ts';
export * from './redis/replies.ts';
export { bearerToken, secretMatcher, sha256, sha256Url } from './crypto/digest.ts';
export { pidOf, processName } from './run/processName.ts';
export { OrderBatcher, type BatcherDeps } from './orders/orderBatcher.ts';
export {
  ORDERS_QUEUE,
  createOrdersQueue,
  createOrdersQueues,
  orderJobOptions,
  partitionOfGroup,
  onePartition,
  partitionQueue,
  webhookPartitionQueue,
  WEBHOOKS_QUEUE,
  type OrdersQueues,
  ordersOf,
  type OrderBatchJob,
  type OrderJob,
  type OrdersJobData,
} from './queue/ordersQueue.ts';
export { withSecrets } from './config/secrets.ts';
export { runMain, type Shutdown } from './run/runMain.ts';
export { runPool, type PoolOptions } from './run/processPool.ts';
export { RestartBackoff } from './run/restarts.ts';
export { loadConfigOrExit } from './run/configOrExit.ts';
export { redactUrl } from './redis/redactUrl.ts';
export { listen, type HttpLimits, type Listening } from './run/httpServer.ts';
export { reconcileOnce, startReconciler, type ReconcileDeps, type ReconcileReport } from './orders/reconcile.ts';
export { rateLimitedError, takeRateLimit, type RateLimit, type RateLimitScope } from './limits/rateLimiter.ts';
export { LEASE_SHARE, MAX_WINDOWS, RateLimitBatcher } from './limits/rateLimitBatcher.ts';
export { SoldOutMemory } from './products/soldOutMemory.ts';
export { getProductStats, type HoldUnits, type ProductStats } from './products/productStats.ts';
export { createRegistry, type MetricsJson } from './metrics/registry.ts';
export { createApiMetrics, UNMATCHED_ROUTE, type ApiMetrics } from './metrics/apiMetrics.ts';
export { createWorkerMetrics, type WorkerMetrics } from './metrics/workerMetrics.ts';
export { registerQueueDepth, registerUnservedPartitions, createReadErrors } from './metrics/queueMetrics.ts';
export {
  announcePartitions,
  describeUnserved,
  queuesByPartition,
  servedPartitions,
  unservedPartitions,
  type UnservedPartition,
} from './queue/partitionServing.ts';
export {
  MAX_PARTITIONS,
  describeRetired,
  findRetiredPartitions,
  type RetiredPartition,
} from './queue/retiredPartitions.ts';
export { publishMetrics, readPublishedMetrics, workerId, type PublishOptions } from './metrics/publication.ts';
export { metricsHandler, ownMetrics, mergedMetrics, type Exposition } from './metrics/endpoint.ts';
export { pooledMetrics, servePoolMetrics } from './metrics/poolMetrics.ts';
export {
  DOOR_OUTCOMES,
  doorCountsOf,
  doorOutcomeOf,
  noDoorCounts,
  publishDoorCounts,
  readDoorCounts,
  sumDoorCounts,
  type DoorCopy,
  type DoorCounts,
  type DoorOutcome,
} from './metrics/door.ts';
export { webhookSettings, type WebhookSettings } from './config/webhooks.ts';
export { signWebhook, verifyWebhookSignature, SIGNATURE_HEADER, DEFAULT_TOLERANCE_S } from './webhooks/signature.ts';
export {
  attemptsToSpan,
  retryDelayMs,
  retrySpanMs,
  MAX_RETRY_DELAY_MS,
  RETRY_SPAN_MS,
  WEBHOOK_BACKOFF,
} from './webhooks/backoff.ts';
export { eventOf, jobOfEntry, type WebhookEvent, type WebhookJob } from './webhooks/event.ts';
export { createWebhookQueues, webhookJobOptions, COMPLETED_AGE_S, FAILED_AGE_S } from './webhooks/webhooksQueue.ts';
export {
  groupsOfPartition,
  relayOnce,
  relayStep,
  startRelay,
  unfinishedJobs,
  type Relay,
  type RelayDeps,
  type RelaySettings,
  type RelayStep,
  type WebhookQueue,
} from './webhooks/relay.ts';
export { readWebhookBacklogs, type WebhookBacklog } from './webhooks/backlog.ts';
export { startWebhookEvents, type WebhookEvents } from './webhooks/systemSetting.ts';
export {
  createDeliverer,
  describeOutcome,
  type Deliverer,
  type DeliveryKind,
  type DeliveryOutcome,
} from './webhooks/deliver.ts';
