-- POST /token, one refresh-token chain per wrk thread (run with -tN -cN).
--   BENCH_TOKENS_FILE  one refresh token per line, at least one per thread
--   BENCH_BODY_KEY     "refresh_token" (authgate) or "token" (the tutorial)
--   BENCH_ROTATES      "1": take the next token from each answer's "refresh_token"
-- A failure is any answer other than 200; after one, a rotating chain stays broken.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local threads = {}
local tokens = nil

function setup(thread)
  if tokens == nil then
    tokens = {}
    for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
      if line ~= "" then table.insert(tokens, line) end
    end
  end
  table.insert(threads, thread)
  thread:set("token", tokens[#threads])
end

local key = os.getenv("BENCH_BODY_KEY") or "token"
local rotates = os.getenv("BENCH_ROTATES") == "1"
local headers = { ["Content-Type"] = "application/json" }
failures = 0

function request()
  return wrk.format("POST", nil, headers, '{"' .. key .. '":"' .. token .. '"}')
end

function response(status, hdrs, body)
  if status ~= 200 then
    failures = failures + 1
  elseif rotates then
    token = body:match('"refresh_token"%s*:%s*"([^"]+)"') or token
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("failures") end
  bench_report(summary, latency, total)
end
