-- wrk script: POST /api/buy of one item with a new Idempotency-Key per request.
-- Reads ORG_ID, ITEM_ID and TOKEN from the environment (see scripts/bench-serve); answers are
-- counted by wrk-count.lua (run from the repository's root).
dofile("scripts/bench/wrk-count.lua")
local org, item, token = os.getenv("ORG_ID"), os.getenv("ITEM_ID"), os.getenv("TOKEN")
local path = "/api/tenant/" .. org .. "/buy"
local body = '{"item_id":"' .. item .. '","quantity":1}'
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}
local run = tostring(os.time())
local counter = 0

request = function()
  counter = counter + 1
  headers["Idempotency-Key"] = "wrk-" .. run .. "-" .. counter
  return wrk.format("POST", path, headers, body)
end
