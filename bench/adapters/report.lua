-- done(): one machine-readable line for bench/adapters/run.py (latencies in microseconds).
-- Without a response() hook, a failure is any status over 399 (wrk's "Non-2xx" count).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d failures=%d connect=%d read=%d write=%d timeout=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(99)))
end
