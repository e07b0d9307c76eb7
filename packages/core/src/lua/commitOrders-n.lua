--[[
  Decides batches of orders, of one product or of several products of one group, in one atomic
  step: the heart of Flashline. One call decides many orders, in the order given. The products'
  keys share one hash tag (keys.ts groups them), so the call stays in one Redis Cluster slot.
  Each product is a section, decided or refused on its own: one section's refusal changes nothing
  of that product, and does not stop the others.

  Input (a variable number of keys: the caller passes numkeys = the sum over sections of 5 + orders):
    for each section, in order:
      5 keys      product hash (stock, sold, perUserLimit, and the operators' counters),
                  buyers hash (userId -> units confirmed), fence counter,
                  the product's pending-orders sorted set, the product's lock
      n keys      order hash of each of the section's orders
    ARGV[1]   now, epoch milliseconds
    ARGV[2]   largest quantity one order may ask
    ARGV[3]   '' normally. For the fault tests' negative controls only (refused in production by the
              config): 'i' skips the already-decided check, 'f' skips the fencing check.
    ARGV[4]   retention: milliseconds a decided order is kept before it expires
    ARGV[5]   number of sections
    then for each section, in order:
      productId
      the fencing token of the caller's lock lease, or 'claim': the caller holds no lease and asks
        the script to claim the lock itself. Free, the lock is claimed and released inside this one
        atomic call (so it is never written: nobody could see it held); the fence is incremented as
        by any acquisition, which fences off every earlier holder.
      n, the number of orders
      n pairs: userId and quantity of each order

  Output:
    -2  invalid shared arguments (now, retention, the layout of sections, a product twice): nothing changed
    otherwise a flat list, for each section: its code, then three entries per order.
      code  0  decided: per order, status ('confirmed' | 'rejected' | 'invalid'), reason ('' |
               'sold_out' | 'limit_exceeded' | 'processing_failed') and applied (1 when this call
               made the decision, 0 when the order was already decided, or invalid)
           -1  stale fencing token: a newer lock holder exists and some order needed deciding
           -3  unknown product
           -4  'claim' found the lock held, and some order needed deciding: take the lock the slow way
      A section refused (code < 0) changed nothing; its entries are '', '', 0.
    'invalid': the order's arguments are malformed or contradict the stored order; it is left as it was.

  Already decided orders return their decision before the fence is checked, so a re-sent batch (its
  reply lost on the wire) reports the decisions instead of failing.
]]
local now, maxQuantity, broken, retention = ARGV[1], tonumber(ARGV[2]), ARGV[3] or '', ARGV[4] or ''

-- Re-check arguments here too, so a call that bypasses the API cannot corrupt stock.
local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 64 and string.match(s, '^[%w_%-]+$') ~= nil
end
local function isCount(s)
  return s ~= nil and string.match(s, '^%d+$') ~= nil
end
if not isCount(now) or maxQuantity == nil or not string.match(retention, '^[1-9]%d*$') or not isCount(ARGV[5]) then
  return -2
end

-- Where each section's keys and arguments start, checked before anything is written.
local sections = {}
local seen = {}
local nextKey, nextArg = 1, 6
for s = 1, tonumber(ARGV[5]) do
  local productId, fence, count = ARGV[nextArg], ARGV[nextArg + 1], ARGV[nextArg + 2]
  if not isId(productId) or seen[productId] or not (fence == 'claim' or isCount(fence)) or not isCount(count) then
    return -2
  end
  seen[productId] = true
  count = tonumber(count)
  sections[s] = { productId = productId, fence = fence, count = count, key = nextKey, arg = nextArg + 3 }
  nextKey = nextKey + 5 + count
  nextArg = nextArg + 3 + 2 * count
end
if nextKey - 1 ~= #KEYS or nextArg - 1 ~= #ARGV then
  return -2
end

-- One section: its code, and one {status, reason, applied} per order.
local function decide(section)
  local productId, fence, count, k, a = section.productId, section.fence, section.count, section.key, section.arg
  local productKey, buyersKey, fenceKey, pendingKey, lockKey = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
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
    local orderKey, userId, quantity = KEYS[k + 4 + i], ARGV[a + 2 * i - 2], ARGV[a + 2 * i - 1]
    local first = firstEntry[orderKey]
    if first then
      if ARGV[a + 2 * first - 2] == userId and ARGV[a + 2 * first - 1] == quantity then
        repeats[i] = first
      else
        results[i] = { 'invalid', '', 0 }
      end
    else
      firstEntry[orderKey] = i
      local valid = isId(userId) and string.match(quantity, '^[1-9]%d?%d?%d?$') ~= nil and tonumber(quantity) <= maxQuantity
      local order = redis.call('HMGET', orderKey, 'status', 'reason', 'productId', 'userId', 'quantity')
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
    -- Every refusal is found before the first write. The product's counters are read here and
    -- written back once, at the end: one call per product, not one per counter.
    local product = redis.call('HMGET', productKey, 'stock', 'perUserLimit', 'sold', 'confirmed', 'rejected:sold_out', 'rejected:limit_exceeded')
    if fence == 'claim' then
      if redis.call('EXISTS', lockKey) == 1 then
        return -4
      end
    elseif tonumber(redis.call('GET', fenceKey) or '0') ~= tonumber(fence) and not string.find(broken, 'f', 1, true) then
      return -1
    end
    if not product[1] then
      return -3
    end
    if fence == 'claim' then
      redis.call('INCR', fenceKey)
    end
    local stock = tonumber(product[1])
    local limit = tonumber(product[2] or '0')
    local bought = {}
    local soldUnits = 0
    local confirmed, soldOut, overLimit = 0, 0, 0
    for _, i in ipairs(undecided) do
      local orderKey, userId, quantity = KEYS[k + 4 + i], ARGV[a + 2 * i - 2], ARGV[a + 2 * i - 1]
      local units = tonumber(quantity)
      -- The buyer's ledger is read only when a limit needs it (and once per buyer per call).
      if limit > 0 and bought[userId] == nil then
        bought[userId] = tonumber(redis.call('HGET', buyersKey, userId) or '0')
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
        redis.call('HINCRBY', buyersKey, userId, units)
      end
      if recorded[i] then
        redis.call('HSET', orderKey, 'status', status, 'reason', reason, 'decidedAt', now)
      else
        redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
          'status', status, 'reason', reason, 'decidedAt', now, 'createdAt', now)
      end
      -- A decided order is kept for the buyer to read, then expires: memory stays bounded.
      redis.call('PEXPIRE', orderKey, retention)
      redis.call('ZREM', pendingKey, orderKey)
      if status == 'confirmed' then
        confirmed = confirmed + 1
      elseif reason == 'sold_out' then
        soldOut = soldOut + 1
      else
        overLimit = overLimit + 1
      end
      results[i] = { status, reason, 1 }
    end
    -- Stock and sold, and the operators' counters (the sale panel, /metrics): decisions by outcome.
    local counters = {}
    local function add(field, current, n)
      if n > 0 then
        counters[#counters + 1] = field
        counters[#counters + 1] = string.format('%d', (tonumber(current) or 0) + n)
      end
    end
    if soldUnits > 0 then
      counters[1], counters[2] = 'stock', string.format('%d', stock)
    end
    add('sold', product[3], soldUnits)
    add('confirmed', product[4], confirmed)
    add('rejected:sold_out', product[5], soldOut)
    add('rejected:limit_exceeded', product[6], overLimit)
    redis.call('HSET', productKey, unpack(counters))
  end

  for i, first in pairs(repeats) do
    results[i] = { results[first][1], results[first][2], 0 }
  end
  return 0, results
end

local flat = {}
for _, section in ipairs(sections) do
  local code, results = decide(section)
  flat[#flat + 1] = code
  for i = 1, section.count do
    local result = code == 0 and results[i] or { '', '', 0 }
    flat[#flat + 1] = result[1]
    flat[#flat + 1] = result[2]
    flat[#flat + 1] = result[3]
  end
end
return flat
