-- wrk script for bench/query.py: each request asks for a random certificate number from NUMBERS_FILE; with CLIENTS
-- above 0, on behalf of one of that many distinct addresses, named in X-Forwarded-For as a reverse proxy in front of
-- the service names them (the bench trusts 127.0.0.1 as that proxy, QUERY_TRUSTED_PROXIES).
local numbers = {}
for line in io.lines(os.getenv("NUMBERS_FILE")) do numbers[#numbers + 1] = line end
local count = tonumber(os.getenv("CLIENTS") or "0")
local clients = {}
for i = 1, count do
  clients[i] = string.format("10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
end
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end
init = function(args)
  -- Each thread its own sequence: otherwise both ask for the same numbers (and clients) in the same order.
  math.randomseed(os.time() * 1000 + (id or 0))
end
request = function()
  local path = wrk.path .. numbers[math.random(#numbers)]
  if count == 0 then
    return wrk.format("GET", path)
  end
  return wrk.format("GET", path, {["X-Forwarded-For"] = clients[math.random(count)]})
end
