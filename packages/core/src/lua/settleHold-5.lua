--[[
  Ends one held order as the shop asks: 'confirm' (paid: its units sold) or 'cancel' (its units back in
  stock, its buyer's count down). One compare-and-set: only a `reserved` order whose deadline has not
  passed changes. A repeat of the same request changes nothing and says so; a hold found past its
  deadline (its timer late) is ended `expired` here first, as the timer would have.

  Input:
    KEYS[1] order hash
    KEYS[2] product hash
    KEYS[3] buyers hash (userId -> units won)
    KEYS[4] the product's holds sorted set
    KEYS[5] the group's webhook outbox (a stream; written only when ARGV[4] is '1')
    ARGV[1] 'confirm' | 'cancel'
    ARGV[2] productId: the order must be this product's
    ARGV[3] retention: milliseconds an ended order is kept before it expires
    ARGV[4] '1': write the change to the webhook outbox; '' not
    ARGV[5] '' normally. 'c' for the fault tests' negative control only (refused in production by the
            config): no compare-and-set, an expired or cancelled hold is ended again as asked

  Output (codes named in redis/replies.ts, SettleHoldCode): { code, the order hash's fields (HGETALL) }
    'changed'            the order is now confirmed / cancelled
    'unchanged'          it already was (a repeat), or a cancel found it expired: its units are back
    'hold_expired'       confirm of an expired hold (now, or before): the shop refunds
    'order_cancelled'    confirm of a cancelled hold
    'already_confirmed'  cancel of a confirmed order
    'not_reserved'       the order is queued or rejected: it holds nothing
    'not_found'          no such order of this product (never, or expired after its retention); no fields
]]
-- #include orderEvents
-- #include productVersion
-- #include holds
local action, productId, retention, events = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local careless = ARGV[5] == 'c'
if (action ~= 'confirm' and action ~= 'cancel') or not string.match(retention, '^[1-9]%d*$') then
  return redis.error_reply('ERR invalid arguments')
end
local orderKey, productKey, buyersKey, holdsKey, outboxKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local order = redis.call('HMGET', orderKey, 'status', 'userId', 'quantity', 'seq', 'productId', 'holdExpiresAt')
if not order[1] or order[5] ~= productId then
  return { 'not_found' }
end
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local status = order[1]
local code
if careless and (status == 'expired' or status == 'cancelled') then
  status = 'reserved'
elseif status == 'reserved' and tonumber(order[6]) <= nowMs and not careless then
  endHold(productKey, buyersKey, outboxKey, orderKey, order, 'expired', nowMs, retention, events)
  redis.call('ZREM', holdsKey, orderKey)
  refreshHoldsDueAt(productKey, holdsKey)
  status = 'expired'
end
if status == 'reserved' then
  endHold(productKey, buyersKey, outboxKey, orderKey, order, action == 'confirm' and 'confirmed' or 'cancelled', nowMs,
    retention, events)
  redis.call('ZREM', holdsKey, orderKey)
  refreshHoldsDueAt(productKey, holdsKey)
  code = 'changed'
elseif status == 'queued' or status == 'rejected' then
  code = 'not_reserved'
elseif action == 'confirm' then
  code = (status == 'confirmed' and 'unchanged') or (status == 'expired' and 'hold_expired') or 'order_cancelled'
else
  code = status == 'confirmed' and 'already_confirmed' or 'unchanged'
end
return { code, redis.call('HGETALL', orderKey) }
