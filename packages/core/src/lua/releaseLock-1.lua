--[[
  Releases a lock only when the caller still holds it (compare-and-delete), so a holder whose
  lease expired can never delete the lock of the next holder.

  Input:
    KEYS[1] lock key
    ARGV[1] token

  Output (codes named in redis/replies.ts, DoneCode):
    1  released
    0  not ours (expired, or taken by another holder): nothing changed
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
