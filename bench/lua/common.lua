-- Shared by every scenario script: at the end of a run, write the figures bench/run reads
-- (one key=value a line) to the file named by BENCH_WRK_OUT. Latencies in microseconds.
function done(summary, latency, requests)
  local path = os.getenv("BENCH_WRK_OUT")
  if path == nil or path == "" then return end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local f = assert(io.open(path, "w"))
  f:write(string.format("requests=%d\n", summary.requests))
  f:write(string.format("seconds=%.3f\n", seconds))
  f:write(string.format("rps=%.2f\n", summary.requests / seconds))
  f:write(string.format("p50_us=%d\n", latency:percentile(50)))
  f:write(string.format("p99_us=%d\n", latency:percentile(99)))
  f:write(string.format("max_us=%d\n", latency.max))
  f:write(string.format("non2xx=%d\n", e.status))
  f:write(string.format("socket_errors=%d\n", e.connect + e.read + e.write + e.timeout))
  f:close()
end
