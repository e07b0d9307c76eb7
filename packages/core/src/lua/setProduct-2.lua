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
    ARGV[4] the precondition: 0 = none; '*' = the product exists; n = it is in one of the n states
            that follow, each a triple stock, sold, perUserLimit (as the product's ETag names them)

  Output (codes named in redis/replies.ts, SetProductCode):
    -1  the product is in none of the given states (or does not exist): nothing changed
    otherwise { stock, sold, perUserLimit } as strings, after the update
]]
local productId, stock, limit = ARGV[1], ARGV[2], ARGV[3]
local any = ARGV[4] == '*'
local states = any and 0 or tonumber(ARGV[4])
if not string.match(stock, '^%d+$') or #stock > 15 then
  return redis.error_reply('ERR invalid stock')
end
if limit ~= '' and (not string.match(limit, '^%d+$') or #limit > 15) then
  return redis.error_reply('ERR invalid perUserLimit')
end
if not states or #ARGV ~= (any and 4 or 4 + 3 * states) then
  return redis.error_reply('ERR invalid precondition')
end
if any or states > 0 then
  local current = redis.call('HMGET', KEYS[1], 'stock', 'sold', 'perUserLimit')
  local matched = any and current[1] ~= false
  for i = 0, states - 1 do
    if current[1] and current[1] == ARGV[5 + 3 * i] and (current[2] or '0') == ARGV[6 + 3 * i]
      and (current[3] or '0') == ARGV[7 + 3 * i] then
      matched = true
    end
  end
  if not matched then
    return -1
  end
end
redis.call('HSET', KEYS[1], 'stock', stock)
redis.call('HSETNX', KEYS[1], 'sold', 0)
if limit ~= '' then
  redis.call('HSET', KEYS[1], 'perUserLimit', limit)
else
  redis.call('HSETNX', KEYS[1], 'perUserLimit', 0)
end
-- Registered in the step that creates it: the reconciler can never miss a product with orders.
redis.call('SADD', KEYS[2], productId)
return redis.call('HMGET', KEYS[1], 'stock', 'sold', 'perUserLimit')
