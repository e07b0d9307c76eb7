--[[
  Decides a batch of orders of one product in one atomic step: the heart of Flashline.
  One lock acquisition and one call decide many orders, in the order given.

  Input (a variable number of keys: the caller passes numkeys = 5 + number of orders):
    KEYS[1]   product hash (stock, sold, perUserLimit, and the operators' counters)
    KEYS[2]   buyers hash (userId -> units confirmed)
    KEYS[3]   fence counter
    KEYS[4]   the product's pending-orders sorted set
    KEYS[5]   the product's lock
    KEYS[5+i] order hash of order i
    ARGV[1]   productId
    ARGV[2]   fencing token of the caller's lock lease, or 'claim': the caller holds no lease and
              asks the script to claim the lock itself. Free, the lock is claimed and released
              inside this one atomic call (so it is never written: nobody could see it held); the
              fence is incremented as by any acquisition, which fences off every earlier holder.
              Held by someone, nothing changes and the reply is -4: take the lock the slow way.
    ARGV[3]   now, epoch milliseconds
    ARGV[4]   largest quantity one order may ask
    ARGV[5]   '' normally. For the fault tests' negative controls only (refused in production by the
              config): 'i' skips the already-decided check, 'f' skips the fencing check.
    ARGV[6]   retention: milliseconds a decided order is kept before it expires
    ARGV[5+2i], ARGV[6+2i]  userId and quantity of order i

  Output:
    -1  stale fencing token: a newer lock holder exists and some order needed deciding; nothing changed
    -2  invalid shared arguments (productId, fence, now): nothing changed
    -3  unknown product: nothing changed
    -4  'claim' found the lock held, and some order needed deciding: nothing changed
    otherwise a flat list, three entries per order i:
      status   'confirmed' | 'rejected' | 'invalid'
      reason   '' | 'sold_out' | 'limit_exceeded' | 'processing_failed'
      applied  1 when this call made the decision, 0 when the order was already decided (or invalid)
    'invalid': the order's arguments are malformed or contradict the stored order; it is left as it was.

  Already decided orders return their decision before the fence is checked, so a re-sent batch (its
  reply lost on the wire) reports the decisions instead of failing.
]]
local productId, fence, now, maxQuantity = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local broken = ARGV[5] or ''
local retention = ARGV[6] or ''
local count = #KEYS - 5

-- Re-check arguments here too, so a call that bypasses the API cannot corrupt stock.
local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 64 and string.match(s, '^[%w_%-]+$') ~= nil
end
if not isId(productId) or not (fence == 'claim' or string.match(fence, '^%d+$')) or not string.match(now, '^%d+$')
    or not string.match(retention, '^[1-9]%d*$') or maxQuantity == nil or #ARGV ~= 6 + 2 * count then
  return -2
end

local results = {}
local undecided = {}
-- Orders with a record (the API wrote it): deciding them writes only the decision's fields.
local recorded = {}
-- The same order may come twice in one batch (a job delivered twice to one process: stalled, then
-- fetched again while its first run still waited for the lock). Only its first entry is decided;
-- the others repeat that decision with applied 0.
local firstEntry = {}
local repeats = {}
for i = 1, count do
  local userId, quantity = ARGV[5 + 2 * i], ARGV[6 + 2 * i]
  local first = firstEntry[KEYS[5 + i]]
  if first then
    if ARGV[5 + 2 * first] == userId and ARGV[6 + 2 * first] == quantity then
      repeats[i] = first
    else
      results[i] = { 'invalid', '', 0 }
    end
  else
    firstEntry[KEYS[5 + i]] = i
    local valid = isId(userId) and string.match(quantity, '^[1-9]%d?%d?%d?$') ~= nil and tonumber(quantity) <= maxQuantity
    local order = redis.call('HMGET', KEYS[5 + i], 'status', 'reason', 'productId', 'userId', 'quantity')
    if valid and order[1] and (order[3] ~= productId or order[4] ~= userId or order[5] ~= quantity) then
      valid = false
    end
    if not valid then
      results[i] = { 'invalid', '', 0 }
    elseif order[1] and order[1] ~= 'queued' and not string.find(broken, 'i', 1, true) then
      results[i] = { order[1], order[2] or '', 0 }
    else
      undecided[#undecided + 1] = i
      recorded[i] = order[1] ~= false and order[1] ~= nil
    end
  end
end

if #undecided > 0 then
  if fence == 'claim' then
    if redis.call('EXISTS', KEYS[5]) == 1 then
      return -4
    end
    redis.call('INCR', KEYS[3])
  elseif tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(fence) and not string.find(broken, 'f', 1, true) then
    return -1
  end
  local product = redis.call('HMGET', KEYS[1], 'stock', 'perUserLimit')
  if not product[1] then
    return -3
  end
  local stock = tonumber(product[1])
  local limit = tonumber(product[2] or '0')
  local bought = {}
  -- The product's counters change once per call, not once per order.
  local soldUnits = 0
  local outcomes = {}
  for _, i in ipairs(undecided) do
    local userId, quantity = ARGV[5 + 2 * i], ARGV[6 + 2 * i]
    local units = tonumber(quantity)
    -- The buyer's ledger is read only when a limit needs it (and once per buyer per call).
    if limit > 0 and bought[userId] == nil then
      bought[userId] = tonumber(redis.call('HGET', KEYS[2], userId) or '0')
    end
    local status, reason = 'confirmed', ''
    if limit > 0 and bought[userId] + units > limit then
      status, reason = 'rejected', 'limit_exceeded'
    elseif stock < units then
      status, reason = 'rejected', 'sold_out'
    else
      stock = stock - units
      soldUnits = soldUnits + units
      if limit > 0 then
        bought[userId] = bought[userId] + units
      end
      redis.call('HINCRBY', KEYS[2], userId, units)
    end
    if recorded[i] then
      redis.call('HSET', KEYS[5 + i], 'status', status, 'reason', reason, 'decidedAt', now)
    else
      redis.call('HSET', KEYS[5 + i], 'productId', productId, 'userId', userId, 'quantity', quantity,
        'status', status, 'reason', reason, 'decidedAt', now, 'createdAt', now)
    end
    -- A decided order is kept for the buyer to read, then expires: memory stays bounded.
    redis.call('PEXPIRE', KEYS[5 + i], retention)
    redis.call('ZREM', KEYS[4], KEYS[5 + i])
    local outcome = status == 'confirmed' and 'confirmed' or ('rejected:' .. reason)
    outcomes[outcome] = (outcomes[outcome] or 0) + 1
    results[i] = { status, reason, 1 }
  end
  if soldUnits > 0 then
    redis.call('HINCRBY', KEYS[1], 'stock', -soldUnits)
    redis.call('HINCRBY', KEYS[1], 'sold', soldUnits)
  end
  -- Operators' counters (the sale panel, /metrics): decisions by outcome.
  for outcome, n in pairs(outcomes) do
    redis.call('HINCRBY', KEYS[1], outcome, n)
  end
end

for i, first in pairs(repeats) do
  results[i] = { results[first][1], results[first][2], 0 }
end

local flat = {}
for i = 1, count do
  flat[#flat + 1] = results[i][1]
  flat[#flat + 1] = results[i][2]
  flat[#flat + 1] = results[i][3]
end
return flat
