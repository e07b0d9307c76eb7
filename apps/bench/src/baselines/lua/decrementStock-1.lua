--[[
  The seeds' Lua check-and-decrement: the stock check and the decrement run as one atomic
  step, so two clients can never both take the last unit.

  Input:
    KEYS[1] stock key (a plain integer string)
    ARGV[1] quantity to take

  Output:
    >= 0  the stock left after taking the quantity: sold
    -1    fewer units left than asked (or no stock key): nothing changed
]]
local stock = tonumber(redis.call('GET', KEYS[1]))
local quantity = tonumber(ARGV[1])
if not stock or stock < quantity then
  return -1
end
return redis.call('DECRBY', KEYS[1], quantity)
