--[[
  Gives back one request that rateLimit-1.lua counted, for a request that was refused after it
  was counted (an unknown product, a product Redis found sold out, a reused Idempotency-Key): a
  refused request must not spend its buyer's allowance. Only a counter still in its window is
  decremented: one that expired meanwhile is not re-created (it would have no time to live).

  Input:
    KEYS[1] request counter of one client (a user)

  Output:
    1  given back
    0  nothing to give back: the window ended, or the counter is at 0
]]
if redis.call('PTTL', KEYS[1]) > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
  return 1
end
return 0
