--[[
  Included (scripts.ts, `-- #include saleGate`) by the scripts that check a product before taking an
  order: acceptBatch, readStock and recordOrders.
  productGate: what a product can take now, by Redis's clock (nowMs): its units (nil: no such product),
  with a hold past its deadline counted free even before its timer ends it (its units may be sold: the
  commit ends the hold first; until then the held units are an upper bound on what it frees), and its
  sale window: nil open (or none), 'not_open' with the milliseconds until it opens (a string), or 'closed'.
]]
local function productGate(productKey, nowMs)
  local fields = redis.call('HMGET', productKey, 'stock', 'opensAt', 'closesAt', 'holdsDueAt', 'reserved')
  local stock = fields[1] and tonumber(fields[1])
  if stock and fields[4] and tonumber(fields[4]) <= nowMs then
    stock = stock + tonumber(fields[5] or '0')
  end
  if fields[2] and nowMs < tonumber(fields[2]) then
    return stock, 'not_open', tostring(tonumber(fields[2]) - nowMs)
  elseif fields[3] and nowMs >= tonumber(fields[3]) then
    return stock, 'closed', ''
  end
  return stock, nil, ''
end
