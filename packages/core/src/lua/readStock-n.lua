--[[
  Reads the units left of a batch's products, before anything of the batch is written: a request for
  a product that does not exist or has fewer units than it asks is refused before its buyer's limit
  is claimed (so a refused request never holds a unit of its buyer's budget, even for a moment).
  Read-only. On Redis Cluster the caller sends one call per product group (one hash tag).

  Input (a variable number of keys, passed first as numkeys):
    KEYS   the product hashes

  Output: a list, one entry per key: its stock as a string, or false (nil) when the product does not exist.
]]
local reply = {}
for i = 1, #KEYS do
  reply[i] = redis.call('HGET', KEYS[i], 'stock')
end
return reply
