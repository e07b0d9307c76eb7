-- wrk script (wrk's own Lua, not Redis's): POST /orders, request i with its own body and, when asked,
-- its own Idempotency-Key; stops after WRK_TOTAL answers (one thread); prints one JSON line of results.
-- Settings from the environment (set by wrk.ts):
--   WRK_TOTAL     answers to wait for
--   WRK_PLAN      a file of one line per request: productId, userId and quantity, separated by spaces
--   WRK_KEYS      '1': send `Idempotency-Key: <WRK_KEY_PREFIX><i>` on every request
--   WRK_KEY_PREFIX
local total = tonumber(os.getenv('WRK_TOTAL'))
local keyed = os.getenv('WRK_KEYS') == '1'
local keyPrefix = os.getenv('WRK_KEY_PREFIX') or 'k'
local plan = {}
for line in io.lines(os.getenv('WRK_PLAN')) do
  plan[#plan + 1] = line
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local sent, answered = 0, 0
-- A global: done() reads each thread's with thread:get.
statuses = {}

function request()
  local line = plan[(sent % #plan) + 1]
  local productId, userId, quantity = line:match('^(%S+) (%S+) (%S+)$')
  local headers = { ['Content-Type'] = 'application/json' }
  if keyed then
    headers['Idempotency-Key'] = keyPrefix .. sent
  end
  sent = sent + 1
  return wrk.format('POST', nil, headers,
    '{"productId":"' .. productId .. '","userId":"' .. userId .. '","quantity":' .. quantity .. '}')
end

function response(status)
  answered = answered + 1
  -- The answers past `total` (in flight when it was reached) are not counted.
  if answered > total then
    return
  end
  statuses[status] = (statuses[status] or 0) + 1
  if answered == total then
    -- wrk runs for its -d duration whatever its threads do: the marker tells wrk.ts to interrupt it
    -- (SIGINT), and wrk then reports as at the end of its duration.
    io.write('WRK_DONE\n')
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get('statuses')
    for status, n in pairs(s) do
      counts[#counts + 1] = '"' .. status .. '":' .. n
    end
  end
  local f = io.open('/proc/self/stat')
  local stat = f:read('*a')
  f:close()
  local fields = {}
  for field in stat:sub(stat:find(')', 1, true) + 2):gmatch('%S+') do
    fields[#fields + 1] = field
  end
  io.write('WRK_RESULT {"requests":', summary.requests, ',"durationUs":', summary.duration,
    ',"errors":', summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    ',"p50Us":', latency:percentile(50), ',"p99Us":', latency:percentile(99), ',"maxUs":', latency.max,
    ',"cpuTicks":', tonumber(fields[12]) + tonumber(fields[13]),
    ',"statuses":{', table.concat(counts, ','), '}}\n')
end
