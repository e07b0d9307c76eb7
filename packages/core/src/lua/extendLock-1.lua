--[[
  Extends a lock's lease, only while the caller still holds it.

  Input:
    KEYS[1] lock key
    ARGV[1] token
    ARGV[2] new lease in milliseconds

  Output (codes named in redis/replies.ts, DoneCode):
    1  extended
    0  the lock is gone or held by someone else: the caller's lease is lost
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
