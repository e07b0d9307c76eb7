--[[
  Adds `delta` units to a product's stock (a negative delta takes units away), in one atomic step
  with respect to every commit: an operator's "+5" while units sell is exactly +5, unlike reading
  the stock and writing back an absolute figure.

  Input:
    KEYS[1] product hash
    ARGV[1] delta: a non-zero integer

  Output (codes named in redis/replies.ts, AdjustStockCode):
    -1  no such product: nothing changed
    -2  fewer units left than a negative delta takes away: nothing changed
    otherwise { stock, sold, perUserLimit, opensAt, closesAt, holdSeconds, reserved, version } as
    strings (nil when none), after the change
]]
-- #include productVersion
local delta = ARGV[1]
if not string.match(delta, '^%-?[1-9]%d*$') or #delta > 16 then
  return redis.error_reply('ERR invalid delta')
end
delta = tonumber(delta)
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then
  return -1
end
if tonumber(stock) + delta < 0 then
  return -2
end
redis.call('HINCRBY', KEYS[1], 'stock', delta)
bumpProductVersion(KEYS[1])
return redis.call('HMGET', KEYS[1], 'stock', 'sold', 'perUserLimit', 'opensAt', 'closesAt', 'holdSeconds', 'reserved',
  'version')
