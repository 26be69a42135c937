-- The load of `make bench-http` (bench/http.py): wrk -s bench/wrk/orders.lua URL -- MODE PREFIX MEMBERS KEY ...
--
--   confirm   PREFIX MEMBERS KEY SPEND_SHARE SEED   a typical 3-line cart per request, drawn as
--                                                    bench.confirm.cart_order draws it, with a unique order_id
--   calculate PREFIX MEMBERS KEY TEMPLATE           the same body for every request but the member: TEMPLATE is a
--                                                    file holding bench.confirm.big_cart_order as JSON, with one %d
--                                                    where the member id goes
--
-- MEMBERS is a file of registered member ids, one a line; KEY the API key sent as `Authorization: Bearer KEY`.
-- The ceiling (bench/ceiling.py) and the product get the very same script, so their carts are alike.
--
-- wrk runs one Lua state per thread: setup() (in the main state) numbers the threads, so that PREFIX, the thread
-- number and a per-thread counter make every order_id unique. done() (in the main state again) prints one line,
-- `WRK_RESULT {json}`, that bench/http.py parses.
--
-- wrk stops at the end of its duration without waiting for the responses still due, so a confirm may be recorded
-- by the server and never counted by wrk. To tell those apart, a confirm run keeps the order_ids it sent and has
-- not had an answer to (`pending`, each response's order_id taking its own off) and done() lists what is left.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local members = {}
local body_of
built = 0 -- requests built by this thread
pending = {} -- order_id -> true, for the confirms sent and not answered yet

local function price(low, high)
   -- randrange(low, high) . randrange(100), as cart_order: high is excluded.
   return string.format("%d.%02d", math.random(low, high - 1), math.random(0, 99))
end

local function answered(status, headers, body)
   local order_id = string.match(body, '"order_id"%s*:%s*"([^"]*)"')
   if order_id then
      pending[order_id] = nil
   end
end

function init(args)
   local mode, prefix, members_file, key = args[1], args[2], args[3], args[4]
   for line in io.lines(members_file) do
      members[#members + 1] = tonumber(line)
   end
   assert(#members > 0, "no member ids in " .. members_file)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. key
   if mode == "confirm" then
      local spend_share, seed = tonumber(args[5]), tonumber(args[6])
      -- Each thread its own sequence, the same from one run to the next.
      math.randomseed(seed * 1000 + id)
      body_of = function(n)
         local order_id = string.format("%s-%d-%d", prefix, id, n)
         local points = ""
         local member = members[math.random(#members)]
         local store = math.random(0, 39)
         local grocery = string.format('{"sku":"sku-%d","category":"grocery","quantity":1,"price":"%s"}',
            math.random(0, 4999), price(1000, 5000))
         local dairy = string.format('{"sku":"sku-%d","category":"dairy","quantity":%d,"price":"%s"}',
            math.random(0, 4999), math.random(1, 3), price(50, 900))
         local bakery = string.format('{"sku":"sku-%d","category":"bakery","quantity":%d,"price":"%s"}',
            math.random(0, 4999), math.random(1, 5), price(10, 300))
         if math.random() < spend_share then
            points = string.format(',"points":%d', math.random(10, 200))
         end
         return string.format(
            '{"order_id":"%s","member":{"member_id":%d},"channel":"pos","store":"store-%d","lines":[%s,%s,%s]%s}',
            order_id, member, store, grocery, dairy, bakery, points), order_id
      end
      -- Defined here, so that calculate runs do without it: wrk reads bodies only for a script with response().
      response = answered
   elseif mode == "calculate" then
      local file = assert(io.open(args[5], "r"))
      local template = file:read("*a")
      file:close()
      math.randomseed(1000 + id)
      body_of = function(_)
         return string.format(template, members[math.random(#members)]), nil
      end
   else
      error("unknown mode " .. tostring(mode) .. ": confirm or calculate")
   end
end

function request()
   built = built + 1
   local body, order_id = body_of(built)
   -- wrk builds one request on the first thread's state before the run, to check that it parses, and never sends
   -- it: that one is not pending.
   if order_id and not (id == 0 and built == 1) then
      pending[order_id] = true
   end
   return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
   local unanswered = {}
   for _, thread in ipairs(threads) do
      for order_id, _ in pairs(thread:get("pending")) do
         unanswered[#unanswered + 1] = string.format('"%s"', order_id)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,"errors_read":%d,'
         .. '"errors_write":%d,"errors_timeout":%d,"latency_p50_us":%.1f,"latency_p99_us":%.1f,'
         .. '"latency_max_us":%.1f,"latency_mean_us":%.1f,"unanswered":[%s]}\n',
      summary.requests, summary.duration, errors.status, errors.connect, errors.read, errors.write,
      errors.timeout, latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
      table.concat(unanswered, ",")))
end
