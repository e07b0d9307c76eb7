--[[
  Counts a batch of requests against fixed windows, several per counter: for each counter, as
  ARGV[2 + i] calls of rateLimit-1.lua would (the counter is made with the window as its time to
  live, so it disappears on its own). The caller knows which of a counter's requests pass: the first
  `limit - (count - n)` of them, in order.

  Input (a variable number of keys, passed first as numkeys):
    KEYS[i]     request counter of one client (an IP address or a user)
    ARGV[1]     requests allowed per window, integer >= 1
    ARGV[2]     window in milliseconds, integer >= 1
    ARGV[2 + i] requests counted on KEYS[i], integer >= 1

  Output: a flat list, two entries per counter: its count after this call, and the milliseconds
  until its window ends (then a client over the limit may send again).
]]
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
if not limit or limit < 1 or not windowMs or windowMs < 1 or #ARGV ~= 2 + #KEYS then
  return redis.error_reply('ERR invalid rate limit')
end
local reply = {}
for i = 1, #KEYS do
  local n = tonumber(ARGV[2 + i])
  if not n or n < 1 then
    return redis.error_reply('ERR invalid rate limit')
  end
end
for i = 1, #KEYS do
  local count = redis.call('INCRBY', KEYS[i], ARGV[2 + i])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    -- a new window (or a counter left without a time to live): it ends windowMs from now
    redis.call('PEXPIRE', KEYS[i], windowMs)
    ttl = windowMs
  end
  reply[2 * i - 1] = count
  reply[2 * i] = math.max(ttl, 1)
end
return reply
