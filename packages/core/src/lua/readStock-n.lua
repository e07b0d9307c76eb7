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
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reply = {}
for i = 1, #KEYS do
  local fields = redis.call('HMGET', KEYS[i], 'stock', 'opensAt', 'closesAt', 'holdsDueAt', 'reserved')
  if fields[1] and fields[4] and tonumber(fields[4]) <= nowMs then
    fields[1] = tostring(tonumber(fields[1]) + tonumber(fields[5] or '0'))
  end
  local window = ''
  if fields[2] and nowMs < tonumber(fields[2]) then
    window = tostring(tonumber(fields[2]) - nowMs)
  elseif fields[3] and nowMs >= tonumber(fields[3]) then
    window = 'closed'
  end
  reply[2 * i - 1] = fields[1]
  reply[2 * i] = window
end
return reply
