--[[
  Records a batch of new orders of one product as queued, each after checking the product exists
  and has at least the units it asks (stock is not reserved here: the commit decides). The API
  gathers the orders that arrive together and records them with one call instead of one each.
  Idempotent per order: an order that already exists (a retried request, a re-sent command) is
  left as it is and its current status returned.
  Over maxmemory (noeviction) Redis refuses this script with OOM at its first HSET, a command that may
  add memory (a script is only checked before its first write): every check comes before that write,
  so a refused call has recorded nothing (tested through the API in apps/api/test/redisFull.test.ts).

  Input (a variable number of keys: the caller passes numkeys = 2 + number of orders):
    KEYS[1]    product hash
    KEYS[2]    the product's pending-orders sorted set
    KEYS[2+i]  order hash of order i
    ARGV[1]    productId
    ARGV[2]    now, epoch milliseconds
    ARGV[3]    id of the job the queued orders will be enqueued under
    ARGV[1+3i], ARGV[2+3i], ARGV[3+3i]  orderId, userId and quantity of order i

  Output (codes named in redis/replies.ts, AcceptOrdersCode):
    -3  invalid arguments (an id, a quantity, now, or the layout): nothing changed
    -1  unknown product: nothing changed
    otherwise a list, one entry per order i:
      'new'  recorded now, queued: it goes in the job ARGV[3]
      'queued' | 'confirmed' | 'rejected'  the status of an order that already existed
      -2  sold out: fewer units left than the quantity asked; nothing recorded
]]
local productId, now, jobId = ARGV[1], ARGV[2], ARGV[3]
local count = #KEYS - 2

-- Every argument is checked before the first write, so a call that bypasses the API's validation
-- is refused whole instead of recording the orders that came before its bad one.
local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 128 and string.match(s, '^[%w_.~%-]+$') ~= nil
end
if count < 1 or #ARGV ~= 3 + 3 * count or not isId(productId) or not isId(jobId)
  or string.match(now or '', '^%d+$') == nil then
  return -3
end
for i = 1, count do
  if not isId(ARGV[1 + 3 * i]) or not isId(ARGV[2 + 3 * i]) or string.match(ARGV[3 + 3 * i], '^[1-9]%d?%d?%d?$') == nil then
    return -3
  end
end
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then
  return -1
end
stock = tonumber(stock)

local results = {}
local recorded = 0
for i = 1, count do
  local orderKey = KEYS[2 + i]
  local orderId, userId, quantity = ARGV[1 + 3 * i], ARGV[2 + 3 * i], ARGV[3 + 3 * i]
  local status = redis.call('HGET', orderKey, 'status')
  if status then
    results[i] = status
  elseif stock < tonumber(quantity) then
    results[i] = -2
  else
    -- The job's id is only stored when it differs from the order's own (a batch of one).
    if jobId ~= orderId then
      redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
        'status', 'queued', 'createdAt', now, 'job', jobId)
    else
      redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
        'status', 'queued', 'createdAt', now)
    end
    redis.call('ZADD', KEYS[2], now, orderKey)
    recorded = recorded + 1
    results[i] = 'new'
  end
end
-- Operators' counters: accepted − decided = still queued.
if recorded > 0 then
  redis.call('HINCRBY', KEYS[1], 'accepted', recorded)
end
return results
