-- wrk script for licence_check.py's `check-miss` runs: every request asks about an
-- email never asked before, so every answer is a cache miss (and one SQL query).
-- Usage: wrk ... -s benchmarks/check_miss.lua -H 'Authorization: Api-Key <key>' \
--        http://127.0.0.1:<port>/api/v1/licences/check -- <nonce, unique per run>
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  nonce = args[1] or "0"
  counter = 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", string.format(
    "/api/v1/licences/check?product=documents&email=nobody-%s-%d-%d%%40bench.example",
    nonce, thread_id, counter))
end
