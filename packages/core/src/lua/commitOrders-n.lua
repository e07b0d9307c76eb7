--[[
  Decides batches of orders, of one product or of several products of one group, in one atomic
  step: the heart of Flashline. One call decides many orders, in the order given. The products'
  keys share one hash tag (keys.ts groups them), so the call stays in one Redis Cluster slot.
  Each product is a section, decided or refused on its own: one section's refusal changes nothing
  of that product, and does not stop the others.

  Input (a variable number of keys: the caller passes numkeys = 1 + the sum over sections of 6 + orders):
    for each section, in order:
      6 keys      product hash (stock, sold, perUserLimit, holdSeconds, reserved, and the operators'
                  counters), buyers hash (userId -> units won), fence counter,
                  the product's pending-orders sorted set, the product's lock, its holds sorted set
      n keys      order hash of each of the section's orders
    then 1 key    the group's webhook outbox (a stream; written only when ARGV[6] is '1')
    ARGV[1]   now, epoch milliseconds
    ARGV[2]   largest quantity one order may ask
    ARGV[3]   '' normally. For the fault tests' negative controls only (refused in production by the
              config): 'i' skips the already-decided check, 'f' skips the fencing check.
    ARGV[4]   retention: milliseconds a decided order is kept before it expires
    ARGV[5]   number of sections
    ARGV[6]   '1': write each decision to the webhook outbox; '' not
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
      code  0  decided: per order, status ('confirmed' | 'reserved' | 'rejected' | 'invalid' | 'unknown'), reason
               ('' | 'sold_out' | 'limit_exceeded' | 'processing_failed'; for 'reserved', the hold's
               deadline, epoch ms) and applied (1 when this
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
  reply lost on the wire) reports the decisions instead of failing. A hold that ended since (cancelled,
  expired) reports the decision, 'reserved'; one paid for reports 'confirmed'.

  Holds: a product with holdSeconds holds each won order's units as 'reserved' until a payment deadline
  (holdExpiresAt, Redis's clock + holdSeconds) instead of confirming it. Before deciding such a
  product, the holds whose deadline has passed are ended 'expired' and their units counted free
  again: a late or lost expiry timer never makes a buyer lose to units that are free.
]]
-- #include orderEvents
-- #include productVersion
-- #include holds
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
local events = ARGV[6] == '1'
-- Deadlines are Redis's clock, as the sale window is: one clock for every worker and API process.
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Where each section's keys and arguments start, checked before anything is written. Flat arrays,
-- not a table per section: tables made per section or per order are garbage the script's collector
-- must sweep, and a commit of many products would spend a good part of its time sweeping them.
local sectionCount = tonumber(ARGV[5])
local products, fences, counts, firstKeys, firstArgs = {}, {}, {}, {}, {}
local seen = {}
local nextKey, nextArg = 1, 7
for s = 1, sectionCount do
  local productId, fence, count = ARGV[nextArg], ARGV[nextArg + 1], ARGV[nextArg + 2]
  if not isId(productId) or seen[productId] or not (fence == 'claim' or isCount(fence)) or not isCount(count) then
    return -2
  end
  seen[productId] = true
  count = tonumber(count)
  products[s], fences[s], counts[s], firstKeys[s], firstArgs[s] = productId, fence, count, nextKey, nextArg + 3
  nextKey = nextKey + 6 + count
  nextArg = nextArg + 3 + 2 * count
end
if nextKey ~= #KEYS or nextArg - 1 ~= #ARGV then
  return -2
end
local outboxKey = KEYS[#KEYS]

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
-- Per order to decide: the sequence number of its next event (reused, as `state`).
local seqs = {}

local at = 0
for s = 1, sectionCount do
  local productId, fence, count, k, a = products[s], fences[s], counts[s], firstKeys[s], firstArgs[s]
  local productKey, buyersKey, fenceKey, pendingKey, lockKey = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local holdsKey = KEYS[k + 5]
  local codeAt = at + 1
  flat[codeAt] = 0
  at = codeAt
  local undecided = 0
  for i = 1, count do
    local orderKey, userId, quantity = KEYS[k + 5 + i], ARGV[a + 2 * i - 2], ARGV[a + 2 * i - 1]
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
      local order = redis.call('HMGET', orderKey, 'status', 'reason', 'productId', 'userId', 'quantity', 'seq', 'holdExpiresAt')
      if valid and order[1] and (order[3] ~= productId or order[4] ~= userId or order[5] ~= quantity) then
        valid = false
      end
      if not valid then
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = 'invalid', '', 0, 0
      elseif not order[1] then
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = 'unknown', '', 0, 0
      elseif order[1] ~= 'queued' and not skipDecidedCheck then
        local decided = (order[1] == 'cancelled' or order[1] == 'expired') and 'reserved' or order[1]
        local reason = decided == 'reserved' and order[7] or order[2] or ''
        flat[entry], flat[entry + 1], flat[entry + 2], state[i] = decided, reason, 0, 0
      else
        state[i] = 1
        seqs[i] = (tonumber(order[6]) or 0) + 1
        undecided = undecided + 1
      end
    end
  end
  at = codeAt + 3 * count

  if undecided > 0 then
    -- Every refusal is found before the first write. The product's counters are read here and
    -- written back once, at the end: one call per product, not one per counter.
    local product = redis.call('HMGET', productKey, 'stock', 'perUserLimit', 'sold', 'confirmed', 'rejected:sold_out',
      'rejected:limit_exceeded', 'holdSeconds', 'holdsDueAt', 'held', 'holds:units')
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
      -- Expired holds are free units, whether or not their timer has fired yet.
      if product[8] and tonumber(product[8]) <= nowMs then
        local looked
        repeat
          local units
          units, looked = releaseDueHolds(productKey, buyersKey, holdsKey, outboxKey, nowMs, retention, events, 1000)
          stock = stock + units
        until looked < 1000
      end
      local holdMs = tonumber(product[7] or '0') * 1000
      local holdExpiresAt = string.format('%d', nowMs + holdMs)
      local limit = tonumber(product[2] or '0')
      -- The buyer's ledger is read only when a limit needs it (and once per buyer per section).
      local bought = limit > 0 and {} or nil
      local soldUnits, confirmed, soldOut, overLimit, heldUnits, held = 0, 0, 0, 0, 0, 0
      for i = 1, count do
        local todo = state[i]
        if todo > 0 then
          local orderKey, userId, quantity = KEYS[k + 5 + i], ARGV[a + 2 * i - 2], ARGV[a + 2 * i - 1]
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
            if holdMs > 0 then
              status = 'reserved'
              heldUnits = heldUnits + units
              held = held + 1
            else
              soldUnits = soldUnits + units
              confirmed = confirmed + 1
            end
            if bought then
              bought[userId] = bought[userId] + units
            end
            redis.call('HINCRBY', buyersKey, userId, units)
          end
          if status == 'reserved' then
            -- Held: no expiry until the hold ends (the order's units depend on it).
            redis.call('HSET', orderKey, 'status', status, 'reason', reason, 'decidedAt', now, 'holdExpiresAt', holdExpiresAt,
              'seq', seqs[i])
            redis.call('ZADD', holdsKey, holdExpiresAt, orderKey)
          else
            redis.call('HSET', orderKey, 'status', status, 'reason', reason, 'decidedAt', now, 'seq', seqs[i])
            -- A decided order is kept for the buyer to read, then expires: memory stays bounded.
            redis.call('PEXPIRE', orderKey, retention)
          end
          redis.call('ZREM', pendingKey, orderKey)
          if events then
            emitOrderEvent(outboxKey, orderKey, seqs[i], 'order.' .. status, now)
          end
          local entry = codeAt + 3 * i - 2
          flat[entry], flat[entry + 1], flat[entry + 2] = status, status == 'reserved' and holdExpiresAt or reason, 1
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
      if heldUnits > 0 then
        counters[n + 1], counters[n + 2] = 'stock', string.format('%d', stock)
        counters[n + 3], counters[n + 4] = 'held', string.format('%d', (tonumber(product[9]) or 0) + held)
        counters[n + 5], counters[n + 6] = 'holds:units', string.format('%d', (tonumber(product[10]) or 0) + heldUnits)
        n = n + 6
        -- `reserved` may have moved in this call (expired holds above): added to, not written over.
        redis.call('HINCRBY', productKey, 'reserved', heldUnits)
        refreshHoldsDueAt(productKey, holdsKey)
      end
      redis.call('HSET', productKey, unpack(counters, 1, n))
      -- Stock, sold or reserved moved: the product's GET shows a new state (ended holds bumped it already).
      if soldUnits > 0 or heldUnits > 0 then
        bumpProductVersion(productKey)
      end
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
