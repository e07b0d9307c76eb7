--[[
  Records a new order as queued, after checking its product exists and is not sold out.
  Idempotent: when the order already exists (a retried request, a re-sent command), it changes
  nothing and returns the order's current status.

  Input:
    KEYS[1] product hash
    KEYS[2] order hash
    KEYS[3] the product's pending-orders sorted set
    ARGV[1] productId
    ARGV[2] userId
    ARGV[3] quantity
    ARGV[4] now, epoch milliseconds

  Output:
    'queued' | 'confirmed' | 'rejected'  the order's status
    -1  unknown product
    -2  sold out: fewer units left than the quantity asked
]]
local status = redis.call('HGET', KEYS[2], 'status')
if status then
  return status
end
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then
  return -1
end
if tonumber(stock) < tonumber(ARGV[3]) then
  return -2
end
redis.call('HSET', KEYS[2], 'productId', ARGV[1], 'userId', ARGV[2], 'quantity', ARGV[3],
  'status', 'queued', 'createdAt', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[4], KEYS[2])
-- Operators' counters: accepted − decided = still queued.
redis.call('HINCRBY', KEYS[1], 'accepted', 1)
return 'queued'
