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

  Output (codes named in redis/replies.ts, CommitOrdersCode):
    -2  invalid shared arguments (now, retention, the layout of sections, a product twice): nothing changed
    otherwise a flat list, for each section: its code, then three entries per order.
      code  0  decided: per order, status ('confirmed' | 'rejected' | 'invalid' | 'unknown'), reason
               ('' | 'sold_out' | 'limit_exceeded' | 'processing_failed') and applied (1 when this
               call made the decision, 0 when the order was already decided, invalid or unknown)
           -1  stale fencing token: a newer lock holder exists and some order needed deciding
           -3  unknown product
           -4  'claim' found the lock held, and some order needed deciding: take the lock the slow way
      A section refused (code < 0) changed nothing; its entries are '', '', 0.
    'invalid': the order's arguments are malformed or contradict the stored order; it is left as it was.
    'unknown': no record of the order: never accepted (a job made by hand), or expired after its
               retention (a job retried after that); nothing is written for it. Only an order the
               accept path recorded, and that is still undecided, is ever decided.

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

-- Where each section's keys and arguments start, checked before anything is written. Flat arrays,
-- not a table per section: tables made per section or per order are garbage the script's collector
-- must sweep, and a commit of many products would spend a good part of its time sweeping them.
local sectionCount = tonumber(ARGV[5])
local products, fences, counts, firstKeys, firstArgs = {}, {}, {}, {}, {}
local seen = {}
local nextKey, nextArg = 1, 6
for s = 1, sectionCount do
  local productId, fence, count = ARGV[nextArg], ARGV[nextArg + 1], ARGV[nextArg + 2]
  if not isId(productId) or seen[productId] or not (fence == 'claim' or isCount(fence)) or not isCount(count) then
    return -2
  end
  seen[productId] = true
  count = tonumber(count)
  products[s], fences[s], counts[s], firstKeys[s], firstArgs[s] = productId, fence, count, nextKey, nextArg + 3
  nextKey = nextKey + 5 + count
  nextArg = nextArg + 3 + 2 * count
end
if nextKey - 1 ~= #KEYS or nextArg - 1 ~= #ARGV then
  return -2
end

local skipDecidedCheck = string.find(broken, 'i', 1, true) ~= nil
local skipFencing = string.find(broken, 'f', 1, true) ~= nil
-- The reply, written in place: for each section its code, then status, reason, applied per order.
local flat = {}
-- Per order of the section being decided (reused from one section to the next): 0 answered
-- already (its entries are written), 1 to decide (recorded by the API, still queued), -j a repeat
-- of the section's entry j.
local state = {}
-- The same order may come twice in one batch (a job delivered twice to one process: stalled, then
-- fetched again while its first run still waited for the lock). Only its first entry is decided;
-- the others repeat that decision with applied 0. Keyed by order key: an order key names its
-- product, and a product is in one section, so one table serves every section.
local firstEntry = {}
-- The product's counters, as HSET arguments (reused).
local counters = {}

local at = 0
for s = 1, sectionCount do
  local productId, fence, count, k, a = products[s], fences[s], counts[s], firstKeys[s], firstArgs[s]
  local productKey, buyersKey, fenceKey, pendingKey, lockKey = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local codeAt = at + 1
  flat[codeAt] = 0
  at = codeAt
  local undecided = 0
  for i = 1, count do
    local orderKey, userId, quantity = KEYS[k + 4 + i], ARGV[a + 2 * i - 2], ARGV[a + 2 * i - 1]
    local entry = codeAt + 3 * i - 2
    local first = firstEntry[orderKey]
    if first then
      if ARGV[a + 2 * first - 2] == userId and ARGV[a + 2 * first - 1] == quantity then
        state[i] = -first
      else
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = 'invalid', '', 0, 0
      end
    else
      firstEntry[orderKey] = i
      local valid = isId(userId) and string.match(quantity, '^[1-9]%d?%d?%d?$') ~= nil and tonumber(quantity) <= maxQuantity
      local order = redis.call('HMGET', orderKey, 'status', 'reason', 'productId', 'userId', 'quantity')
      if valid and order[1] and (order[3] ~= productId or order[4] ~= userId or order[5] ~= quantity) then
        valid = false
      end
      if not valid then
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = 'invalid', '', 0, 0
      elseif not order[1] then
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = 'unknown', '', 0, 0
      elseif order[1] ~= 'queued' and not skipDecidedCheck then
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = order[1], order[2] or '', 0, 0
      else
        state[i] = 1
        undecided = undecided + 1
      end
    end
  end
  at = codeAt + 3 * count

  if undecided > 0 then
    -- Every refusal is found before the first write. The product's counters are read here and
    -- written back once, at the end: one call per product, not one per counter.
    local product = redis.call('HMGET', productKey, 'stock', 'perUserLimit', 'sold', 'confirmed', 'rejected:sold_out', 'rejected:limit_exceeded')
    local code = 0
    if fence == 'claim' then
      if redis.call('EXISTS', lockKey) == 1 then
        code = -4
      end
    elseif tonumber(redis.call('GET', fenceKey) or '0') ~= tonumber(fence) and not skipFencing then
      code = -1
    end
    if code == 0 and not product[1] then
      code = -3
    end
    if code ~= 0 then
      -- Refused: nothing of this product changed, and its entries say nothing.
      flat[codeAt] = code
      for entry = codeAt + 1, at, 3 do
        flat[entry], flat[entry + 1], flat[entry + 2] = '', '', 0
      end
    else
      if fence == 'claim' then
        redis.call('INCR', fenceKey)
      end
      local stock = tonumber(product[1])
      local limit = tonumber(product[2] or '0')
      -- The buyer's ledger is read only when a limit needs it (and once per buyer per section).
      local bought = limit > 0 and {} or nil
      local soldUnits, confirmed, soldOut, overLimit = 0, 0, 0, 0
      for i = 1, count do
        local todo = state[i]
        if todo > 0 then
          local orderKey, userId, quantity = KEYS[k + 4 + i], ARGV[a + 2 * i - 2], ARGV[a + 2 * i - 1]
          local units = tonumber(quantity)
          if bought and bought[userId] == nil then
            bought[userId] = tonumber(redis.call('HGET', buyersKey, userId) or '0')
          end
          local status, reason = 'confirmed', ''
          if bought and bought[userId] + units > limit then
            status, reason = 'rejected', 'limit_exceeded'
            overLimit = overLimit + 1
          elseif stock < units then
            status, reason = 'rejected', 'sold_out'
            soldOut = soldOut + 1
          else
            stock = stock - units
            soldUnits = soldUnits + units
            confirmed = confirmed + 1
            if bought then
              bought[userId] = bought[userId] + units
            end
            redis.call('HINCRBY', buyersKey, userId, units)
          end
          redis.call('HSET', orderKey, 'status', status, 'reason', reason, 'decidedAt', now)
          -- A decided order is kept for the buyer to read, then expires: memory stays bounded.
          redis.call('PEXPIRE', orderKey, retention)
          redis.call('ZREM', pendingKey, orderKey)
          local entry = codeAt + 3 * i - 2
          flat[entry], flat[entry + 1], flat[entry + 2] = status, reason, 1
        end
      end
      -- Stock and sold, and the operators' counters (the sale panel, /metrics): decisions by outcome.
      local n = 0
      if soldUnits > 0 then
        counters[1], counters[2] = 'stock', string.format('%d', stock)
        counters[3], counters[4] = 'sold', string.format('%d', (tonumber(product[3]) or 0) + soldUnits)
        counters[5], counters[6] = 'confirmed', string.format('%d', (tonumber(product[4]) or 0) + confirmed)
        n = 6
      end
      if soldOut > 0 then
        counters[n + 1], counters[n + 2] = 'rejected:sold_out', string.format('%d', (tonumber(product[5]) or 0) + soldOut)
        n = n + 2
      end
      if overLimit > 0 then
        counters[n + 1], counters[n + 2] = 'rejected:limit_exceeded', string.format('%d', (tonumber(product[6]) or 0) + overLimit)
        n = n + 2
      end
      redis.call('HSET', productKey, unpack(counters, 1, n))
    end
  end

  -- Repeats answer as their first entry did, with applied 0 (after a refusal: nothing, like it).
  if flat[codeAt] == 0 then
    for i = 1, count do
      if state[i] < 0 then
        local entry, first = codeAt + 3 * i - 2, codeAt + 3 * -state[i] - 2
        flat[entry], flat[entry + 1], flat[entry + 2] = flat[first], flat[first + 1], 0
      end
    end
  end
end
return flat
