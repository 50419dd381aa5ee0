-- wrk script for bench/query.py: each request asks for a random certificate number from NUMBERS_FILE.
local numbers = {}
for line in io.lines(os.getenv("NUMBERS_FILE")) do numbers[#numbers + 1] = line end
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end
init = function(args)
  math.randomseed(os.time() * 1000 + (id or 0))
end
request = function()
  return wrk.format("GET", wrk.path .. numbers[math.random(#numbers)])
end
