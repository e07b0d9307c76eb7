--[[
  Included (scripts.ts, `-- #include holds`) by the scripts that end holds; needs orderEvents and productVersion.
  A product with holdSeconds holds a won order's units (`reserved`) until its payment deadline. Its
  holds sorted set (keys.ts `holds`) has each held order's key, scored by the deadline (epoch ms, by
  Redis's clock); the product hash keeps `reserved` (units held now) and `holdsDueAt` (the earliest
  deadline, absent with no hold), so an accept sees a due hold without reading the set.
]]

-- The product hash's `holdsDueAt` after holds were added or removed: the set's lowest score.
local function refreshHoldsDueAt(productKey, holdsKey)
  local first = redis.call('ZRANGE', holdsKey, 0, 0, 'WITHSCORES')
  if first[2] then
    redis.call('HSET', productKey, 'holdsDueAt', first[2])
  else
    redis.call('HDEL', productKey, 'holdsDueAt')
  end
end

--[[
  Ends one held order (status `reserved`) as `outcome`: `confirmed` (its units sold) or `cancelled` /
  `expired` (its units back in stock, its buyer's count down). The caller has checked the status.
  `order` is the HMGET of status, userId, quantity, seq. Does not touch the holds set or holdsDueAt.
  Bumps the product's version (needs productVersion). Returns the units.
]]
local function endHold(productKey, buyersKey, outboxKey, orderKey, order, outcome, nowMs, retention, events)
  local units = tonumber(order[3])
  local seq = (tonumber(order[4]) or 0) + 1
  redis.call('HSET', orderKey, 'status', outcome, outcome .. 'At', nowMs, 'seq', seq)
  -- An ended order is kept for the buyer to read, then expires, as a decided one does.
  redis.call('PEXPIRE', orderKey, retention)
  redis.call('HINCRBY', productKey, 'reserved', -units)
  bumpProductVersion(productKey)
  if outcome == 'confirmed' then
    redis.call('HINCRBY', productKey, 'sold', units)
    redis.call('HINCRBY', productKey, 'holds:paid', units)
  else
    redis.call('HINCRBY', productKey, 'stock', units)
    redis.call('HINCRBY', productKey, 'holds:' .. outcome, units)
    if redis.call('HINCRBY', buyersKey, order[2], -units) <= 0 then
      redis.call('HDEL', buyersKey, order[2])
    end
  end
  if events then
    emitOrderEvent(outboxKey, orderKey, seq, 'order.' .. outcome, nowMs)
  end
  return units
end

--[[
  Ends `expired` up to `limit` of the product's holds whose deadline is at or before nowMs, oldest
  first, and returns the units given back and how many holds it looked at. Each ends once: an order
  no longer `reserved` (confirmed or cancelled meanwhile, by a script that also removed it from the
  set) is only dropped from the set.
]]
local function releaseDueHolds(productKey, buyersKey, holdsKey, outboxKey, nowMs, retention, events, limit)
  local due = redis.call('ZRANGE', holdsKey, '-inf', nowMs, 'BYSCORE', 'LIMIT', 0, limit)
  local units = 0
  for i = 1, #due do
    local order = redis.call('HMGET', due[i], 'status', 'userId', 'quantity', 'seq')
    if order[1] == 'reserved' then
      units = units + endHold(productKey, buyersKey, outboxKey, due[i], order, 'expired', nowMs, retention, events)
    end
  end
  if #due > 0 then
    redis.call('ZREM', holdsKey, unpack(due))
    refreshHoldsDueAt(productKey, holdsKey)
  end
  return units, #due
end
