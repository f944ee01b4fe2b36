-- POST /v1/transfers from wrk (bench/goals.py runs it).
--
--   FC_WRK_TOKEN=... FC_WRK_ACCOUNTS=accounts.txt FC_WRK_MODE=spread|hot FC_WRK_TAG=run1 \
--     wrk -t2 -c16 -d8s --latency -s bench/wrk/transfers.lua http://127.0.0.1:8000/v1/transfers
--
-- FC_WRK_ACCOUNTS names a file of account ids, one a line, all of one business
-- (the token's), pre-funded. `spread`: each request moves money between two of
-- them, rotating through the pairs. `hot`: the first line is the hot account,
-- and every request credits it from one of the others, in turn.
-- Every request has its own Idempotency-Key: tag, wrk thread, counter. With
-- FC_WRK_REFERENCE=1 every transfer also carries its own `reference` (a business's
-- order number), the same text as its key.
-- At the end, done() prints one line `FCJSON {...}`: requests, duration,
-- latency percentiles (microseconds), socket errors and the count of each status.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   counter = 0
   statuses = {}
   sample = ""
   mode = os.getenv("FC_WRK_MODE") or "spread"
   tag = os.getenv("FC_WRK_TAG") or "wrk"
   with_reference = os.getenv("FC_WRK_REFERENCE") == "1"
   headers = {
      ["Authorization"] = "Bearer " .. assert(os.getenv("FC_WRK_TOKEN"), "FC_WRK_TOKEN is not set"),
      ["Content-Type"] = "application/json",
   }
   accounts = {}
   local path = assert(os.getenv("FC_WRK_ACCOUNTS"), "FC_WRK_ACCOUNTS is not set")
   for line in io.lines(path) do
      if #line > 0 then table.insert(accounts, line) end
   end
   if mode == "hot" then
      hot = table.remove(accounts, 1)
   end
   assert(#accounts >= 2, "need at least two accounts")
end

function request()
   counter = counter + 1
   local n = #accounts
   local i = counter + tid * 7919
   local from, to
   if mode == "hot" then
      from, to = accounts[i % n + 1], hot
   else
      -- each pass over the accounts pairs them at another offset, 1..n-1: `to` is never `from`
      local offset = 1 + math.floor(i / n) % (n - 1)
      from, to = accounts[i % n + 1], accounts[(i + offset) % n + 1]
   end
   local key = tag .. "-" .. tid .. "-" .. counter
   headers["Idempotency-Key"] = key
   local reference = ""
   if with_reference then reference = ',"reference":"' .. key .. '"' end
   local body = '{"from_account":"' .. from .. '","to_account":"' .. to ..
      '","amount":' .. (1 + counter % 100) .. ',"currency":"CNY","memo":"wrk"' .. reference .. '}'
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 300 and sample == "" then
      sample = status .. " " .. string.sub(body or "", 1, 300)
   end
end

function done(summary, latency, requests)
   local counts, parts, first = {}, {}, ""
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + count
      end
      local s = thread:get("sample")
      if first == "" and s ~= nil then first = s end
   end
   for status, count in pairs(counts) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   first = string.gsub(first, '[%c"\\]', " ")
   local e = summary.errors
   io.write(string.format(
      'FCJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"statuses": {%s}, "sample": "%s"}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ", "), first))
end
