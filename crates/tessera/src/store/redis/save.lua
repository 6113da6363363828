local current = redis.call('GET', KEYS[1])
local version = 0
if current then
  local v = string.match(current, '^(%d+)\n')
  if not v then return 0 end
  version = tonumber(v)
end
if ARGV[1] == '' then
  if current then return 0 end
elseif (not current) or version ~= tonumber(ARGV[1]) then
  return 0
end
local nextv = version + 1
local t = redis.call('TIME')
local ttl = tonumber(ARGV[3]) - (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', nextv) .. '\n' .. ARGV[2], 'PX', ttl)
end
return nextv
