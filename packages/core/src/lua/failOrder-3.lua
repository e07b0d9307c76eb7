--[[
  Ends an order whose job exhausted its attempts: rejected / processing_failed. Only a queued
  order changes; a decided one (its commit ran, the reply was lost) keeps its decision.

  Input:
    KEYS[1] order hash
    KEYS[2] the product's pending-orders sorted set
    KEYS[3] product hash (its operators' counters)
    ARGV[1] now, epoch milliseconds
    ARGV[2] retention: milliseconds the decided order is kept before it expires

  Output:
    the order's status after the call, or false when there is no such order
]]
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'rejected', 'reason', 'processing_failed', 'decidedAt', ARGV[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'rejected:processing_failed', 1)
  return 'rejected'
end
return status
