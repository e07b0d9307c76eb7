--[[
  Included (scripts.ts, `-- #include productVersion`) by every script that changes what a product's
  GET shows (stock, reserved, sold, perUserLimit, the sale window, holdSeconds): setProduct,
  adjustStock, commitOrders and, through endHold, every script that ends a hold.
  The product hash's `version` is its ETag (products.ts): one value per state, bumped by each change.
  Its first value is Redis's clock in microseconds, not 1: a product made again under the same id
  (its hash deleted) starts above every version of its first life (which would need more than one
  change a microsecond to catch up), so a cached or stale tag never names the new state.
]]
local function bumpProductVersion(productKey)
  if redis.call('HINCRBY', productKey, 'version', 1) == 1 then
    local time = redis.call('TIME')
    redis.call('HSET', productKey, 'version', time[1] .. string.format('%06d', tonumber(time[2])))
  end
end
