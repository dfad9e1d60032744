-- One fixed request, described by the environment:
--   BENCH_METHOD     GET (default) or POST
--   BENCH_AUTH       the Authorization header value ("Basic …" or "Bearer …")
--   BENCH_CT         Content-Type of the body (optional)
--   BENCH_BODY_FILE  file holding the body (optional)
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local ct = os.getenv("BENCH_CT")
if ct ~= nil and ct ~= "" then
  wrk.headers["Content-Type"] = ct
end
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file ~= nil and body_file ~= "" then
  local f = assert(io.open(body_file))
  wrk.body = f:read("*a")
  f:close()
end
