--[[
  The products' step of accepting a batch: records the orders whose buyers' step passed, for any
  number of products of one group (every key here carries the group's hash tag: one Redis Cluster
  slot), in one atomic call. Each order, in the order given:
    1. an order that already exists (a retry, or this call re-sent by ioredis after a lost reply):
       its status, nothing written;
    2. an unknown product, a product outside its sale window (opensAt, closesAt: by this Redis's
       clock, the one every API process shares), or fewer units left than asked: refused, nothing
       written;
    3. otherwise recorded queued, in the product's pending set, naming its job.
  Stock is not reserved here: the commit decides. Every write of a second identical call is a no-op.

  Input (a variable number of keys, passed first as numkeys):
    KEYS   for each product section: the product hash, the product's pending-orders sorted set; then
           for each of the section's orders: its order hash
    ARGV[1] now, epoch milliseconds
    ARGV[2] id of the job the new orders will be enqueued under
    ARGV[3] number of product sections
    then for each section: productId, number of its orders, then 3 arguments per order:
      orderId, userId, quantity

  Output (codes named in redis/replies.ts, RecordOrdersCode):
    -3  invalid arguments (an id, a quantity, or the layout): nothing changed
    otherwise a flat list, two entries per order in the order given:
      'new', ''                 recorded now, queued: it goes in the job ARGV[2]
      'existing', <status>      the order existed: queued, confirmed or rejected
      'unknown_product', ''
      'not_open', <ms>          before the product's opensAt: milliseconds until it opens
      'closed', ''              at or after the product's closesAt
      'sold_out', ''            fewer units left than asked
]]
-- #include saleGate
local now, jobId, sections = ARGV[1], ARGV[2], tonumber(ARGV[3])

local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 128 and string.match(s, '^[%w_.~%-]+$') ~= nil
end

-- Every argument is checked before the first write: a bad call is refused whole.
if not isId(jobId) or string.match(now or '', '^%d+$') == nil or not sections or sections < 1 then
  return -3
end
do
  local a, k = 4, 0
  for _ = 1, sections do
    local count = tonumber(ARGV[a + 1])
    if not isId(ARGV[a]) or not count or count < 1 then
      return -3
    end
    k = k + 2 + count
    a = a + 2
    for _ = 1, count do
      if not isId(ARGV[a]) or not isId(ARGV[a + 1]) or string.match(ARGV[a + 2] or '', '^[1-9]%d?%d?%d?$') == nil then
        return -3
      end
      a = a + 3
    end
  end
  if a - 1 ~= #ARGV or k ~= #KEYS then
    return -3
  end
end

-- The sale window is judged by Redis's own clock: every API process asks the same one.
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local reply = {}
local n = 0
local a, k = 4, 1
for _ = 1, sections do
  local productId, count = ARGV[a], tonumber(ARGV[a + 1])
  local productKey, pendingKey = KEYS[k], KEYS[k + 1]
  a = a + 2
  k = k + 2
  local stock, window, opensInMs = productGate(productKey, nowMs)
  local recorded = 0
  for _ = 1, count do
    local orderId, userId, quantity = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    local orderKey = KEYS[k]
    a = a + 3
    k = k + 1
    local code, detail = 'new', ''
    local status = redis.call('HGET', orderKey, 'status')
    if status then
      code, detail = 'existing', status
    elseif not stock then
      code = 'unknown_product'
    elseif window then
      code, detail = window, opensInMs
    elseif stock < tonumber(quantity) then
      code = 'sold_out'
    else
      -- The job's id is only stored when it differs from the order's own (a batch of one).
      if jobId ~= orderId then
        redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
          'status', 'queued', 'createdAt', now, 'job', jobId)
      else
        redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
          'status', 'queued', 'createdAt', now)
      end
      redis.call('ZADD', pendingKey, now, orderKey)
      recorded = recorded + 1
    end
    reply[n + 1] = code
    reply[n + 2] = detail
    n = n + 2
  end
  -- Operators' counters: accepted − decided = still queued.
  if recorded > 0 then
    redis.call('HINCRBY', productKey, 'accepted', recorded)
  end
end
return reply
