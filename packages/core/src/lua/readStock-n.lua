--[[
  Reads the units left and the sale window of a batch's products, before anything of the batch is
  written: a request for a product that does not exist, is outside its sale window or has fewer units
  than it asks is refused before its buyer's limit is claimed (so a refused request never holds a unit
  of its buyer's budget, even for a moment). Read-only. On Redis Cluster the caller sends one call per
  product group (one hash tag). The window is judged by this Redis's clock, as recordOrders judges it.

  Input (a variable number of keys, passed first as numkeys):
    KEYS   the product hashes

  Output: a flat list, two entries per key:
    its stock as a string, or false (nil) when the product does not exist (with its held units
      added when a hold is past its deadline: they may be free, and the commit decides);
    its window: '' open (or none), 'closed', or the milliseconds until it opens, as a string
]]
-- #include saleGate
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reply = {}
for i = 1, #KEYS do
  local stock, window, opensInMs = productGate(KEYS[i], nowMs)
  reply[2 * i - 1] = stock and string.format('%d', stock) or false
  reply[2 * i] = window == 'not_open' and opensInMs or window or ''
end
return reply
