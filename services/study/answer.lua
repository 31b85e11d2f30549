-- A 防挂机 answer, checked inside Redis against the answer stored when the question was asked.
--
-- KEYS: 1 learner hash, 2 session hash
-- ARGV: 1 session id, 2 chosen option, 3 now (ms), 4 minimum gap between answers (ms),
--       5 the tag of the login the token was issued to
-- Returns: {status, question} with status correct | wrong | none | expired | superseded | too_soon

local learner = redis.call('HMGET', KEYS[1], 'sid', 'q', 'qa', 'qat', 'qi', 'ans', 'tag')
if redis.call('EXISTS', KEYS[2]) == 0 or learner[7] ~= ARGV[5] then
  -- No session, or the login that opened it is over (logout, password change).
  return {'expired'}
end
if learner[1] ~= ARGV[1] then
  return {'superseded'}
end
if not learner[2] or learner[2] == '' then
  return {'none'}
end
local now = tonumber(ARGV[3])
if learner[6] and now - tonumber(learner[6]) < tonumber(ARGV[4]) then
  return {'too_soon', learner[2]}
end
redis.call('HSET', KEYS[1], 'ans', now)
if ARGV[2] == learner[3] then
  redis.call('HDEL', KEYS[1], 'q', 'qa', 'qat')
  -- Counting starts again from now: the time spent on the question is not study time.
  redis.call('HSET', KEYS[2], 'last', now, 'carry', 0)
  redis.call('HSET', KEYS[1], 'bt', now, 'bc', 0)
  return {'correct', ''}
end
-- A wrong answer gets another question from the pool.
local pool = tonumber(redis.call('HGET', KEYS[2], 'n')) or 0
local index = tonumber(learner[5]) or 0
local slot = index % pool
local picked = redis.call('HMGET', KEYS[2], 'q' .. slot, 'a' .. slot)
redis.call('HSET', KEYS[1], 'q', picked[1], 'qa', picked[2], 'qat', now, 'qi', index + 1)
return {'wrong', picked[1]}
