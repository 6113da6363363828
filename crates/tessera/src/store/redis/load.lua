local value = redis.call('GET', KEYS[1])
if not value then return false end
local t = redis.call('TIME')
return {value, redis.call('PTTL', KEYS[1]), t[1], t[2]}
