--[[
  Ends `expired` the product's holds whose payment deadline has passed (by Redis's clock), their units
  back in stock and their buyers' counts down: what an expiry timer (a delayed job of the holds queue),
  the reconciler's sweep and a read of the product run. Idempotent: a hold ends once, whoever comes
  first (a timer that fires after the confirm finds the order confirmed and only drops it from the set).

  Input:
    KEYS[1] product hash
    KEYS[2] buyers hash (userId -> units won)
    KEYS[3] the product's holds sorted set
    KEYS[4] the group's webhook outbox (a stream; written only when ARGV[2] is '1')
    ARGV[1] retention: milliseconds an ended order is kept before it expires
    ARGV[2] '1': write each expiry to the webhook outbox; '' not
    ARGV[3] the most holds to look at in this call (1..1000): a caller with more due calls again

  Output: { units given back, holds looked at, the earliest deadline left (epoch ms) or '' for none }
]]
-- #include orderEvents
-- #include productVersion
-- #include holds
local retention, events, limit = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
if not string.match(retention, '^[1-9]%d*$') or not limit or limit < 1 or limit > 1000 or limit % 1 ~= 0 then
  return redis.error_reply('ERR invalid arguments')
end
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local units, looked = releaseDueHolds(KEYS[1], KEYS[2], KEYS[3], KEYS[4], nowMs, retention, events, limit)
return { units, looked, redis.call('HGET', KEYS[1], 'holdsDueAt') or '' }
