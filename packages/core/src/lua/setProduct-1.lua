--[[
  Creates or updates a product's sellable stock (a restock or a correction) and per-user limit.

  Input:
    KEYS[1] product hash
    ARGV[1] stock: units left, integer >= 0
    ARGV[2] perUserLimit: integer >= 1; 0 = no limit; '' = keep the current one

  Output (decoded in redis/replies.ts):
    { stock, sold, perUserLimit } as strings
]]
local stock = ARGV[1]
local limit = ARGV[2]
if not string.match(stock, '^%d+$') or #stock > 15 then
  return redis.error_reply('ERR invalid stock')
end
if limit ~= '' and (not string.match(limit, '^%d+$') or #limit > 15) then
  return redis.error_reply('ERR invalid perUserLimit')
end
redis.call('HSET', KEYS[1], 'stock', stock)
redis.call('HSETNX', KEYS[1], 'sold', 0)
if limit ~= '' then
  redis.call('HSET', KEYS[1], 'perUserLimit', limit)
else
  redis.call('HSETNX', KEYS[1], 'perUserLimit', 0)
end
return redis.call('HMGET', KEYS[1], 'stock', 'sold', 'perUserLimit')
