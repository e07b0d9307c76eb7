--[[
  Reopens an order that ended rejected / processing_failed, when an operator retries its failed
  job: Flashline could not decide it then, so the retry decides it now. Only processing_failed
  reopens; a business decision (confirmed, sold_out, limit_exceeded) never does, and the commit
  that follows stays idempotent, so a retried order is still applied at most once.

  Input:
    KEYS[1] order hash
    KEYS[2] the product's pending-orders sorted set
    KEYS[3] product hash (its operators' counters)
    ARGV[1] now, epoch milliseconds

  Output (codes named in redis/replies.ts, DoneCode):
    1 reopened (queued again); 0 left as it was (not processing_failed, or no such order)
]]
local order = redis.call('HMGET', KEYS[1], 'status', 'reason')
if order[1] ~= 'rejected' or order[2] ~= 'processing_failed' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('HDEL', KEYS[1], 'reason', 'decidedAt')
-- Undecided orders never expire, and the reconciler watches them again.
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1])
redis.call('HINCRBY', KEYS[3], 'rejected:processing_failed', -1)
return 1
