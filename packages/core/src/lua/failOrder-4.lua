--[[
  Ends an undecided order rejected / processing_failed: its job failed for good (attempts
  exhausted, stalled past the limit, an error no retry can help), or the reconciler found it
  queued behind a failed job. Only a queued order changes; a decided one (its commit ran, the
  reply was lost) keeps its decision. Says what it did, so callers count without reading first.

  Input:
    KEYS[1] order hash
    KEYS[2] the product's pending-orders sorted set
    KEYS[3] product hash (its operators' counters)
    KEYS[4] the group's webhook outbox (a stream; written only when ARGV[3] is '1')
    ARGV[1] now, epoch milliseconds
    ARGV[2] retention: milliseconds the decided order is kept before it expires
    ARGV[3] '1': write the rejection to the webhook outbox (order.rejected); '' not

  Output (codes named in redis/replies.ts, FailOrderCode):
    1   failed now: the order was queued and is rejected / processing_failed
    0   already decided: left as it was
    -1  no such order (never recorded, or expired): nothing changed
]]
-- #include orderEvents
local order = redis.call('HMGET', KEYS[1], 'status', 'seq')
local status = order[1]
if not status then
  return -1
end
if status ~= 'queued' then
  return 0
end
local seq = (tonumber(order[2]) or 0) + 1
redis.call('HSET', KEYS[1], 'status', 'rejected', 'reason', 'processing_failed', 'decidedAt', ARGV[1], 'seq', seq)
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'rejected:processing_failed', 1)
if ARGV[3] == '1' then
  emitOrderEvent(KEYS[4], KEYS[1], seq, 'order.rejected', ARGV[1])
end
return 1
