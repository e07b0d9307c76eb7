--[[
  Creates or updates a product's sellable stock (a restock or a correction) and per-user limit,
  optionally only if the product is still in a state the caller read (an If-Match precondition),
  and registers a new product for the reconciler in the same step.

  Input:
    KEYS[1] product hash
    KEYS[2] the product's group's set of product ids (the registry the reconciler walks)
    ARGV[1] productId
    ARGV[2] stock: units left, integer >= 0
    ARGV[3] perUserLimit: integer >= 1; 0 = no limit; '' = keep the current one
    ARGV[4] opensAt, epoch milliseconds: orders before it are refused; 0 = none; '' = keep the current one
    ARGV[5] closesAt, epoch milliseconds: orders at or after it are refused; 0 = none; '' = keep
    ARGV[6] holdSeconds: integer 1..86400, a won order's units are held that long for payment; 0 = none
            (won orders are confirmed at once); '' = keep the current one
    ARGV[7] the precondition: 0 = none; '*' = the product exists; n = it is in one of the n states
            that follow, each a version (the product's ETag, lib/productVersion.lua)

  Output (codes named in redis/replies.ts, SetProductCode):
    -1  the product is in none of the given states (or does not exist): nothing changed
    -2  the window would close before it opens (the one set now with the one kept): nothing changed
    otherwise { stock, sold, perUserLimit, opensAt, closesAt, holdSeconds, reserved, version } as
    strings (nil for no window bound, no holdSeconds, no unit ever held), after the update
  Changing holdSeconds changes only the orders decided from then on: a hold keeps its deadline.
  The version is bumped only when a field changed: a PUT sent again (a retry) names the same state.
]]
-- #include productVersion
local productId, stock, limit, opensAt, closesAt, hold = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local any = ARGV[7] == '*'
local states = any and 0 or tonumber(ARGV[7])
if not string.match(stock, '^%d+$') or #stock > 15 then
  return redis.error_reply('ERR invalid stock')
end
if limit ~= '' and (not string.match(limit, '^%d+$') or #limit > 15) then
  return redis.error_reply('ERR invalid perUserLimit')
end
for _, time in ipairs({ opensAt, closesAt }) do
  if time ~= '' and (not string.match(time, '^%d+$') or #time > 15) then
    return redis.error_reply('ERR invalid sale window')
  end
end
if hold ~= '' and (not string.match(hold, '^%d+$') or tonumber(hold) > 86400) then
  return redis.error_reply('ERR invalid holdSeconds')
end
if not states or #ARGV ~= (any and 7 or 7 + states) then
  return redis.error_reply('ERR invalid precondition')
end
local FIELDS = { 'stock', 'sold', 'perUserLimit', 'opensAt', 'closesAt', 'holdSeconds', 'reserved', 'version' }
local current = redis.call('HMGET', KEYS[1], unpack(FIELDS))
if any or states > 0 then
  local matched = any and current[1] ~= false
  for i = 1, states do
    if current[1] and (current[8] or '0') == ARGV[7 + i] then
      matched = true
    end
  end
  if not matched then
    return -1
  end
end
-- The window as it will be: what is set now, with what is kept.
local opens = opensAt == '' and tonumber(current[4] or '0') or tonumber(opensAt)
local closes = closesAt == '' and tonumber(current[5] or '0') or tonumber(closesAt)
if opens > 0 and closes > 0 and opens >= closes then
  return -2
end
redis.call('HSET', KEYS[1], 'stock', stock)
for field, time in pairs({ opensAt = opensAt, closesAt = closesAt }) do
  if time == '0' then
    redis.call('HDEL', KEYS[1], field)
  elseif time ~= '' then
    redis.call('HSET', KEYS[1], field, time)
  end
end
redis.call('HSETNX', KEYS[1], 'sold', 0)
if hold == '0' then
  redis.call('HDEL', KEYS[1], 'holdSeconds')
elseif hold ~= '' then
  redis.call('HSET', KEYS[1], 'holdSeconds', hold)
end
if limit ~= '' then
  redis.call('HSET', KEYS[1], 'perUserLimit', limit)
else
  redis.call('HSETNX', KEYS[1], 'perUserLimit', 0)
end
-- Registered in the step that creates it: the reconciler can never miss a product with orders.
redis.call('SADD', KEYS[2], productId)
local after = redis.call('HMGET', KEYS[1], unpack(FIELDS))
for i = 1, 7 do
  if after[i] ~= current[i] then
    bumpProductVersion(KEYS[1])
    return redis.call('HMGET', KEYS[1], unpack(FIELDS))
  end
end
return after
