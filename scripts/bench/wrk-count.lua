-- wrk script: counts the answers by class, so a run is judged by its 2xx answers alone (wrk's
-- own "Non-2xx or 3xx responses" counts a 3xx as success). Prints "2xx answers: N" and
-- "other answers: N" at the end; scripts/bench-serve reads the first. Used alone (GET) or
-- loaded by another script (dofile) that sets `request`.
twoxx, other = 0, 0
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

response = function(status, headers, body)
  if status >= 200 and status < 300 then
    twoxx = twoxx + 1
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local ok, rest = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("twoxx")
    rest = rest + thread:get("other")
  end
  io.write(string.format("2xx answers: %d\nother answers: %d\n", ok, rest))
end
