--[[
  Deletes a key only while it holds the caller's value (compare-and-delete): a lock's holder
  releases its lock, never the next holder's after its own lease expired; an API process frees the
  Idempotency-Key it claimed for a request that was refused, never a key another request bound.

  Input:
    KEYS[1] the key (a lock, an Idempotency-Key)
    ARGV[1] the value the caller wrote (a lock token, an order id and fingerprint)

  Output (codes named in redis/replies.ts, DoneCode):
    1  deleted
    0  not the caller's value (expired, or another's): nothing changed
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
