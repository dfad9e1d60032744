-- Scenario (b): PUT /config/{app}/clients/{id} {"name", "features"}, each request a real change.
--
-- BENCH_PUT_CLIENTS names a file of "client_id name" lines. Thread t of BENCH_THREADS takes
-- the lines i with i % threads == t. A client is "busy" from the moment its PUT is built until
-- its answer arrives; each request goes to the next client that is not busy and sends the
-- feature set it does not have, as its last answer showed. So no two PUTs of one client ever
-- overlap and every PUT changes the row (a new version and one audit event: bench/run checks the
-- count of client.update events against the requests wrk made).
--
-- wrk calls request() once on thread 0 before the run to inspect the request without sending it;
-- the client it picked stays busy for the whole run. bench/run gives each thread several more
-- clients than connections, so that never starves a connection.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")

local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local FEATURES = { '["direct_read_access"]', '["direct_access"]' }

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local app = os.getenv("BENCH_APP")
  mine, by_id = {}, {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_PUT_CLIENTS")) do
    local id, name = line:match("^(%S+) (.+)$")
    if id ~= nil and i % threads == tid then
      -- bench/run creates them with FEATURES[1].
      local c = { path = "/config/" .. app .. "/clients/" .. id, name = name, state = 1, busy = false }
      table.insert(mine, c)
      by_id[id] = c
    end
    i = i + 1
  end
  assert(#mine > 0, "no client for thread " .. tid)
  cursor = 0
  headers = {
    ["Authorization"] = os.getenv("BENCH_AUTH"),
    ["Content-Type"] = "application/json",
  }
end

function request()
  local c
  for _ = 1, #mine do
    cursor = cursor % #mine + 1
    if not mine[cursor].busy then
      c = mine[cursor]
      break
    end
  end
  -- All busy cannot happen with enough clients; if it did, the audit count check would tell.
  c = c or mine[cursor]
  c.busy = true
  local body = '{"name":"' .. c.name .. '","features":' .. FEATURES[3 - c.state] .. '}'
  return wrk.format("PUT", c.path, headers, body)
end

function response(status, headers, body)
  local id = body:match('"_id":"([a-z0-9]+)"')
  local c = id and by_id[id]
  if c then
    c.busy = false
    c.state = body:find('"direct_access"', 1, true) and 2 or 1
  end
end
