--[[
  Included (scripts.ts, `-- #include orderEvents`) by every script that changes an order's state.
  emitOrderEvent: with webhooks on, appends the change to the product group's webhook outbox (a
  stream, keys.ts `outbox`) in the same atomic step as the change: an event exists exactly when its
  change does. The entry: `event` (`<orderId>.<seq>`, stable: a re-sent command that changes nothing
  writes nothing), `type`, `at`, then the order hash's fields as the change left them.
]]
local function emitOrderEvent(outboxKey, orderKey, seq, eventType, at)
  local orderId = string.match(orderKey, ':order:([%w_%.%-]+)$')
  local fields = redis.call('HGETALL', orderKey)
  redis.call('XADD', outboxKey, '*', 'event', orderId .. '.' .. seq, 'type', eventType, 'at', at, unpack(fields))
end
