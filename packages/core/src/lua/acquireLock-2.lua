--[[
  Claims a product lock (SET NX PX) and takes a fencing token in the same atomic step.

  Input:
    KEYS[1] lock key
    KEYS[2] fence counter key
    ARGV[1] token: random, unique to this acquisition
    ARGV[2] lease in milliseconds

  Output (codes named in redis/replies.ts, AcquireLockCode):
    >= 1  the fencing token: the lock is ours
    -1    another holder has the lock

  A re-sent call with the same token (its first reply was lost) finds the lock already ours
  and returns the same fencing token instead of taking a second one.
]]
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
if holder then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
