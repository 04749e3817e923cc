-- POST /sign-in with the credentials of an existing user, as fast as wrk can.
-- BENCH_BODY holds the JSON body; a failure is any status over 399 (see report.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
