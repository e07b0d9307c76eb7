--[[
  Appends outbox entries to a queue partition's webhook backlog (the relay's first step: every entry
  it reads from its groups' outbox streams comes here, whether the shop's receiver answers or not),
  and keeps the backlog within its budget: past it, the oldest entries are dropped, and counted.
  Dropping the oldest keeps each order's latest state (an event carries the whole order), where
  refusing the newest would leave the shop with a stale one. A re-sent call (a reply lost to a
  reconnect) appends the entries again: their events may be delivered twice, never lost.

  Input:
    KEYS[1] the partition's backlog (a stream; its entries are outbox entries, field for field)
    KEYS[2] the partition's dropped-events hash: `count`, `firstAt`, `lastAt` (epoch ms)
    ARGV[1] budget: the most entries the backlog keeps (WEBHOOK_BACKLOG_MAX, >= 0)
    ARGV[2] now, epoch milliseconds (the drop's time, for the operator)
    ARGV[3] how many entries follow; then for each: its number of fields and values, then them

  Output: { entries in the backlog now, entries this call dropped, entries dropped in all }
]]
local budget, count = tonumber(ARGV[1]), tonumber(ARGV[3])
if not budget or budget < 0 or budget % 1 ~= 0 or not count then
  return redis.error_reply('ERR invalid arguments')
end
local at = 4
for _ = 1, count do
  local n = tonumber(ARGV[at])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
local length = redis.call('XLEN', KEYS[1])
local dropped = 0
if length > budget then
  dropped = redis.call('XTRIM', KEYS[1], 'MAXLEN', budget)
end
local total
if dropped > 0 then
  total = redis.call('HINCRBY', KEYS[2], 'count', dropped)
  redis.call('HSETNX', KEYS[2], 'firstAt', ARGV[2])
  redis.call('HSET', KEYS[2], 'lastAt', ARGV[2])
else
  total = tonumber(redis.call('HGET', KEYS[2], 'count')) or 0
end
return { length - dropped, dropped, total }
