--[[
  Releases the seeds' SETNX spin lock only when the caller still holds it (compare-and-delete),
  so a holder whose lease expired can never delete the next holder's lock.

  Input:
    KEYS[1] lock key
    ARGV[1] the caller's token

  Output:
    1  released
    0  not ours (expired, or taken by another holder): nothing changed
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
