--[[
  Gives back what claimBuyers-n.lua claimed for requests their products then refused (unknown
  product, sold out): each key is unbound if it is still bound to that request's order, and each
  count given back, so a refused request leaves its buyer's budget as it found it and leaves no key
  behind. One call per buyer group, as the claim. A key rebound meanwhile (expired, claimed by a
  retry) is left alone. A re-sent call unbinds nothing twice (the count of a request without a key
  is given back again: one more unit for its buyer in that window); a counter at 0 stays at 0.

  Input (a variable number of keys, passed first as numkeys):
    KEYS   for each request: its Idempotency-Key string when it has one, then its buyer's request
           counter when it was counted
    then 3 arguments per request: orderId, fingerprint ('-' without a key), mode (1 key, 2 counted)

  Output (ReleaseBuyersCode in redis/replies.ts): the number of requests given back, or -3 for
  invalid arguments (nothing changed).
]]
local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 128 and string.match(s, '^[%w_.~%-]+$') ~= nil
end
if #ARGV % 3 ~= 0 then
  return -3
end
local k = 0
for a = 1, #ARGV, 3 do
  local mode = tonumber(ARGV[a + 2])
  if not isId(ARGV[a]) or not isId(ARGV[a + 1]) or not mode or mode < 1 or mode > 3 or mode % 1 ~= 0 then
    return -3
  end
  k = k + (mode % 2) + math.floor(mode / 2)
end
if k ~= #KEYS then
  return -3
end

local released = 0
k = 1
for a = 1, #ARGV, 3 do
  local orderId, fingerprint, mode = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local ours = true
  if mode % 2 == 1 then
    ours = redis.call('GET', KEYS[k]) == orderId .. ' ' .. fingerprint
    if ours then
      redis.call('DEL', KEYS[k])
    end
    k = k + 1
  end
  if mode >= 2 then
    -- Given back only with the key it was claimed with (a keyed request's retry owns it otherwise).
    if ours and tonumber(redis.call('GET', KEYS[k]) or '0') > 0 then
      redis.call('DECR', KEYS[k])
    end
    k = k + 1
  end
  if ours then
    released = released + 1
  end
end
return released
