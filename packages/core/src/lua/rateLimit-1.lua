--[[
  Counts one request against a fixed window and says whether it may pass. The counter is made
  with the window as its time to live, so it disappears on its own and never accumulates.

  Input:
    KEYS[1] request counter of one client (an IP address or a user)
    ARGV[1] requests allowed per window, integer >= 1
    ARGV[2] window in milliseconds, integer >= 1

  Output (codes named in redis/replies.ts, RateLimitCode):
    0    allowed: the request is counted
    > 0  refused: milliseconds until the window ends and the client may send again
]]
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
if not limit or limit < 1 or not windowMs or windowMs < 1 then
  return redis.error_reply('ERR invalid rate limit')
end
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- a new window (or a counter left without a time to live): it ends windowMs from now
  redis.call('PEXPIRE', KEYS[1], windowMs)
  ttl = windowMs
end
if count <= limit then
  return 0
end
return math.max(ttl, 1)
