-- done(): one machine-readable line for bench/harness.py's WrkResult (latencies in microseconds).
-- Used alone for GET routes (bench/http, bench/adapters, bench/scale.py) and loaded by
-- signin.lua and refresh.lua.
function bench_report(summary, latency, failures)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d failures=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, failures, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end

function done(summary, latency, requests)
  -- without a response() hook, a failure is any status over 399 (wrk's "Non-2xx" count)
  bench_report(summary, latency, summary.errors.status)
end
