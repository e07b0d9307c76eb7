--[[
  The buyers' step of accepting a batch: for each request, in the order given, its Idempotency-Key
  and its buyer's per-user limit, before its product is looked at. The caller sends one call per
  buyer group (every key here carries one buyer group's hash tag: one Redis Cluster slot).
    1. a key bound to the same body: 'bound' with the order id it names (a retry's order; or this
       very request, re-sent by ioredis after a lost reply: then it is the request's own id); nothing
       written, nothing counted;
    2. a key bound to another body: 'reused', nothing written;
    3. over the per-user limit: 'rate_limited' with the milliseconds until the window ends, nothing
       written;
    4. otherwise 'claimed': the key bound to the request's new order (`<orderId> <fingerprint>`, with
       the key's time to live) and the request counted (the counter is made with the window as its
       time to live).
  Then the products' step (recordOrders-n.lua) records the order or refuses it, and a refused claim
  is given back (releaseBuyers-n.lua). A key claimed by a caller that died before the products' step
  names an order not recorded yet: a retry with that key records it then, so no accepted order is
  lost and none is made twice. (A request without a key that is re-sent after a lost reply is
  counted twice: it spends one more unit of its buyer's window.)

  Input (a variable number of keys, passed first as numkeys):
    KEYS   for each request: its Idempotency-Key string when it has one, then its buyer's request
           counter when it is counted
    ARGV[1] per-user limit: requests per window (>= 1; used only by counted requests)
    ARGV[2] window in milliseconds (>= 1)
    ARGV[3] Idempotency-Key time to live in seconds (>= 1)
    then 3 arguments per request: orderId, fingerprint (of the body; '-' without a key), mode
      mode: the sum of 1 (has a key) and 2 (counted), so 1 to 3

  Output (codes named in redis/replies.ts, ClaimBuyersCode):
    -3  invalid arguments (an id, a mode, a setting, or the layout): nothing changed
    otherwise a flat list, two entries per request in the order given:
      'claimed', ''             bound and counted now
      'bound', <orderId>        its key names an order of the same body
      'reused', ''              its key was bound to another body
      'rate_limited', <ms>      over the per-user limit: milliseconds until the window ends
]]
local limit, windowMs, keyTtl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 128 and string.match(s, '^[%w_.~%-]+$') ~= nil
end

-- Every argument is checked before the first write: a bad call is refused whole.
if not limit or limit < 1 or not windowMs or windowMs < 1 or not keyTtl or keyTtl < 1 or (#ARGV - 3) % 3 ~= 0 then
  return -3
end
local requests = (#ARGV - 3) / 3
do
  local k = 0
  for i = 1, requests do
    local a = 4 + 3 * (i - 1)
    local mode = tonumber(ARGV[a + 2])
    if not isId(ARGV[a]) or not isId(ARGV[a + 1]) or not mode or mode < 1 or mode > 3 or mode % 1 ~= 0 then
      return -3
    end
    k = k + (mode % 2) + math.floor(mode / 2)
  end
  if k ~= #KEYS then
    return -3
  end
end

local reply = {}
local k = 1
for i = 1, requests do
  local a = 4 + 3 * (i - 1)
  local orderId, fingerprint, mode = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local keyed, counted = mode % 2 == 1, mode >= 2
  local idemKey, counter
  if keyed then
    idemKey = KEYS[k]
    k = k + 1
  end
  if counted then
    counter = KEYS[k]
    k = k + 1
  end
  local code, detail = 'claimed', ''
  local bound = keyed and redis.call('GET', idemKey)
  if bound then
    local space = string.find(bound, ' ', 1, true) or (#bound + 1)
    if string.sub(bound, space + 1) == fingerprint then
      code, detail = 'bound', string.sub(bound, 1, space - 1)
    else
      code = 'reused'
    end
  elseif counted and tonumber(redis.call('GET', counter) or '0') >= limit then
    local ttl = redis.call('PTTL', counter)
    code, detail = 'rate_limited', tostring(ttl > 0 and ttl or windowMs)
  else
    if keyed then
      redis.call('SET', idemKey, orderId .. ' ' .. fingerprint, 'EX', keyTtl)
    end
    if counted then
      redis.call('INCR', counter)
      if redis.call('PTTL', counter) < 0 then
        redis.call('PEXPIRE', counter, windowMs)
      end
    end
  end
  reply[2 * i - 1] = code
  reply[2 * i] = detail
end
return reply
