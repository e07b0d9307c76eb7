--[[
  Accepts a batch of orders, over any number of products, in one atomic call: the whole accept path
  of one API batch (Idempotency-Keys, the per-user limit, the products' stock checks and the orders'
  records), on a single Redis, where one call may take any keys. (On Redis Cluster a buyer's keys and
  a product's are in different slots: the same checks and writes are made in steps, each in one slot:
  readStock, claimBuyers, recordOrders, releaseBuyers.) Each order, in the order given:
    1. with an Idempotency-Key bound to another order id and the same body fingerprint: answered
       'bound' with that id, nothing written (the caller asks again for that order id: this call
       cannot read an order whose key it was not given);
    2. an order that already exists (a re-sent call, or the caller asking again): its status,
       nothing written, nothing counted;
    3. with an Idempotency-Key bound to another body: 'reused';
    4. an unknown product, a product outside its sale window (opensAt, closesAt: by this Redis's
       clock, the one every API process shares), or fewer units left than asked: refused;
    5. over the buyer's per-user limit: 'rate_limited';
    6. otherwise recorded queued (in the product's pending set, naming its job), its key bound to
       it (`<orderId> <fingerprint>`, with the key's time to live) and the buyer's request counted.
  A refused order writes nothing: it binds no key and spends no count (the cluster's steps answer
  in the same order: the product before the buyer's limit). Stock is not reserved here: the commit
  decides. Every write of a second identical call is a no-op, so a
  call ioredis re-sends after a lost reply records, binds and counts nothing twice.
  (A keyed request for a product the caller knows sold out does not come here: the caller reads
  its key's binding, `<orderId> <fingerprint>`, itself.)

  Input (a variable number of keys, passed first as numkeys):
    KEYS   for each product section: the product hash, the product's pending-orders sorted set;
           then for each of the section's orders: its order hash, then its Idempotency-Key string
           when it has one, then its buyer's request counter when it is counted
    ARGV[1] now, epoch milliseconds
    ARGV[2] id of the job the new orders will be enqueued under
    ARGV[3] per-user limit: requests per window (>= 1; used only by counted orders)
    ARGV[4] window in milliseconds (>= 1)
    ARGV[5] Idempotency-Key time to live in seconds (>= 1)
    ARGV[6] number of product sections
    then for each section: productId, number of its orders, then 5 arguments per order:
      orderId, userId, quantity, mode, fingerprint (of the body; '-' without a key)
      mode: the sum of 1 (has a key), 2 (counted)

  Output (codes named in redis/replies.ts, BatchCode):
    -3  invalid arguments (an id, a quantity, a mode, a setting, or the layout): nothing changed
    otherwise a flat list, two entries per order in the order given:
      'new', ''                 recorded now, queued: it goes in the job ARGV[2]
      'existing', <status>      the order existed: queued, confirmed or rejected
      'bound', <orderId>        its key names another order of the same body
      'rate_limited', <ms>      over the per-user limit: milliseconds until the window ends
      'reused', ''              its key was bound to another body
      'unknown_product', ''
      'not_open', <ms>          before the product's opensAt: milliseconds until it opens
      'closed', ''              at or after the product's closesAt
      'sold_out', ''            fewer units left than asked
]]
-- #include saleGate
local now, jobId = ARGV[1], ARGV[2]
local limit, windowMs, keyTtl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local sections = tonumber(ARGV[6])

local function isId(s)
  return s ~= nil and #s >= 1 and #s <= 128 and string.match(s, '^[%w_.~%-]+$') ~= nil
end
local function flags(mode)
  return mode % 2 == 1, math.floor(mode / 2) % 2 == 1
end

-- Every argument is checked before the first write, so a call that bypasses the API's validation
-- is refused whole instead of recording the orders that came before its bad one.
if not isId(jobId) or string.match(now or '', '^%d+$') == nil or not limit or limit < 1 or not windowMs
  or windowMs < 1 or not keyTtl or keyTtl < 1 or not sections or sections < 1 then
  return -3
end
do
  local a, k = 7, 0
  for _ = 1, sections do
    local count = tonumber(ARGV[a + 1])
    if not isId(ARGV[a]) or not count or count < 1 then
      return -3
    end
    k = k + 2
    a = a + 2
    for _ = 1, count do
      local mode = tonumber(ARGV[a + 3])
      if not isId(ARGV[a]) or not isId(ARGV[a + 1]) or string.match(ARGV[a + 2] or '', '^[1-9]%d?%d?%d?$') == nil
        or not mode or mode < 0 or mode > 3 or mode % 1 ~= 0 or not isId(ARGV[a + 4]) then
        return -3
      end
      local keyed, counted = flags(mode)
      k = k + 1 + (keyed and 1 or 0) + (counted and 1 or 0)
      a = a + 5
    end
  end
  if a - 1 ~= #ARGV or k ~= #KEYS then
    return -3
  end
end

-- The sale window is judged by Redis's own clock: every API process asks the same one.
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local reply = {}
local n = 0
local function answer(code, detail)
  reply[n + 1] = code
  reply[n + 2] = detail
  n = n + 2
end

local a, k = 7, 1
for _ = 1, sections do
  local productId, count = ARGV[a], tonumber(ARGV[a + 1])
  local productKey, pendingKey = KEYS[k], KEYS[k + 1]
  a = a + 2
  k = k + 2
  local stock, window, opensInMs = productGate(productKey, nowMs)
  local recorded = 0
  for _ = 1, count do
    local orderId, userId, quantity, fingerprint = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 4]
    local keyed, counted = flags(tonumber(ARGV[a + 3]))
    local orderKey = KEYS[k]
    local idemKey, counter
    k = k + 1
    if keyed then
      idemKey = KEYS[k]
      k = k + 1
    end
    if counted then
      counter = KEYS[k]
      k = k + 1
    end
    a = a + 5

    local boundId, sameBody
    if keyed then
      local bound = redis.call('GET', idemKey)
      if bound then
        local space = string.find(bound, ' ', 1, true) or (#bound + 1)
        boundId = string.sub(bound, 1, space - 1)
        sameBody = string.sub(bound, space + 1) == fingerprint
      end
    end
    if boundId and sameBody and boundId ~= orderId then
      answer('bound', boundId)
    else
      local status = redis.call('HGET', orderKey, 'status')
      if status then
        answer('existing', status)
      elseif boundId and not sameBody then
        answer('reused', '')
      elseif not stock then
        answer('unknown_product', '')
      elseif window then
        answer(window, opensInMs)
      elseif stock < tonumber(quantity) then
        answer('sold_out', '')
      elseif counted and tonumber(redis.call('GET', counter) or '0') >= limit then
        local ttl = redis.call('PTTL', counter)
        answer('rate_limited', tostring(ttl > 0 and ttl or windowMs))
      else
        -- The job's id is only stored when it differs from the order's own (a batch of one).
        if jobId ~= orderId then
          redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
            'status', 'queued', 'createdAt', now, 'job', jobId)
        else
          redis.call('HSET', orderKey, 'productId', productId, 'userId', userId, 'quantity', quantity,
            'status', 'queued', 'createdAt', now)
        end
        redis.call('ZADD', pendingKey, now, orderKey)
        if keyed and not boundId then
          redis.call('SET', idemKey, orderId .. ' ' .. fingerprint, 'EX', keyTtl)
        end
        if counted then
          redis.call('INCR', counter)
          if redis.call('PTTL', counter) < 0 then
            redis.call('PEXPIRE', counter, windowMs)
          end
        end
        recorded = recorded + 1
        answer('new', '')
      end
    end
  end
  -- Operators' counters: accepted − decided = still queued.
  if recorded > 0 then
    redis.call('HINCRBY', productKey, 'accepted', recorded)
  end
end
return reply
