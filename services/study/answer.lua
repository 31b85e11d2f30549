-- A 防挂机 answer, checked inside Redis against the answer stored when the question was shown.
--
-- KEYS: 1 learner hash, 2 session hash, 3 progress hash of the token's chapter,
--       4 the set of progress entries waiting to be written to PostgreSQL, 5 the set of
--       sessions whose evidence waits to be written
-- ARGV: 1 session id, 2 chosen option (as shown), 3 now (ms), 4 minimum gap between
--       answers (ms), 5 the tag of the login the token was issued to, 6 24 random hex digits
--       (the next question's order and one-time id), 7 chapter id, 8 dirty-set member,
--       9 the id of the question answered ('' when the player does not say), 10 the wait
--       after a first wrong answer (ms, doubled by each further one), 11 wrong answers in a
--       row that pause the session, 12 that pause (ms), 13 the session's evidence member
-- Returns: {status, question, withdrawn seconds, latency ms, wait ms} with status
--   correct | wrong | paused | none | stale | locked | expired | superseded | too_soon

local learner = redis.call('HMGET', KEYS[1], 'sid', 'q', 'qa', 'qat', 'qi', 'ans', 'tag', 'qid',
  'qc', 'wrow', 'lock')
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
if ARGV[9] ~= '' and ARGV[9] ~= learner[8] then
  -- An answer to a question no longer shown: ids are good for one showing only.
  return {'stale'}
end
local now = tonumber(ARGV[3])
local lock = tonumber(learner[11]) or 0
if now < lock then
  return {'locked', '', 0, 0, lock - now}
end
if learner[6] and now - tonumber(learner[6]) < tonumber(ARGV[4]) then
  return {'too_soon'}
end
local latency = now - (tonumber(learner[4]) or now)
redis.call('HSET', KEYS[1], 'ans', now)
-- The report rhythm's evidence leaves out the interval that spans a question (a script's
-- timer is regular between questions; the time a question takes is not its rhythm).
redis.call('HDEL', KEYS[2], 'rt')
-- Evidence: answers and their latencies (ms), kept with the session.
redis.call('HINCRBY', KEYS[2], 'answers', 1)
redis.call('SADD', KEYS[5], ARGV[13])
local latencies = redis.call('HGET', KEYS[2], 'lat') or ''
if #latencies < 2000 then
  redis.call('HSET', KEYS[2], 'lat', latencies .. latency .. ',')
end
if tonumber(ARGV[2]) == tonumber(learner[3]) then
  redis.call('HDEL', KEYS[1], 'q', 'qa', 'qat', 'qid', 'qo', 'qc')
  redis.call('HSET', KEYS[1], 'wrow', 0)
  -- Counting starts again from now: the time spent on the question is not study time. The
  -- player went on playing from the report that asked the question until its reply came and
  -- the question was shown; that stretch is reported after the answer, so it is paid from
  -- the wall time the question waited (at most the carried slack). Credit stays within the
  -- wall time: the question's wait was never paid.
  local carry = math.min(tonumber(redis.call('HGET', KEYS[2], 'slack')) or 0,
    math.max(0, latency) / 1000)
  redis.call('HSET', KEYS[2], 'last', now, 'carry', carry)
  redis.call('HSET', KEYS[1], 'bt', now, 'bc', carry)
  return {'correct', '', 0, latency, 0}
end

-- Wrong: what was covered since the previous question is withdrawn and must be watched
-- again; each wrong answer in a row makes the next wait longer, and several pause.
local wrong_in_a_row = (tonumber(learner[10]) or 0) + 1
redis.call('HINCRBY', KEYS[2], 'wrong', 1)
local withdrawn = 0
if learner[9] == ARGV[7] then
  local p = redis.call('HMGET', KEYS[3], 'cov', 'cred', 'wiv', 'wcov', 'fin')
  local covered = tonumber(p[1]) or 0
  local back_to = tonumber(p[4])
  if back_to and covered > back_to and (tonumber(p[5]) or 0) == 0 then
    withdrawn = covered - back_to
    redis.call('HSET', KEYS[3], 'iv', p[3], 'cov', back_to,
      'cred', math.max(0, (tonumber(p[2]) or 0) - withdrawn), 'piv', p[3], 'pcov', back_to)
    redis.call('SADD', KEYS[4], ARGV[8])
  end
end
local status = 'wrong'
local wait = tonumber(ARGV[10]) * 2 ^ (wrong_in_a_row - 1)
if wrong_in_a_row >= tonumber(ARGV[11]) then
  status = 'paused'
  wait = tonumber(ARGV[12])
end
-- Another question (the next of the pool), its options in a new order, a new id.
local pool = tonumber(redis.call('HGET', KEYS[2], 'n')) or 0
local index = tonumber(learner[5]) or 0
local slot = index % pool
local picked = redis.call('HMGET', KEYS[2], 'q' .. slot, 'a' .. slot, 'k' .. slot)
local n = tonumber(picked[3])
local order = {}
for i = 1, n do order[i] = i - 1 end
local x = tonumber(string.sub(ARGV[6], 1, 12), 16) % 2147483646 + 1
for i = n, 2, -1 do
  x = (x * 16807) % 2147483647
  local j = x % i + 1
  order[i], order[j] = order[j], order[i]
end
local right = 0
for i = 1, n do
  if order[i] == tonumber(picked[2]) then right = i - 1 end
end
local question_id = string.sub(ARGV[6], 13)
local shown = table.concat(order, ',')
redis.call('HSET', KEYS[1], 'q', picked[1], 'qa', right, 'qat', now + wait, 'qi', index + 1,
  'qid', question_id, 'qo', shown, 'wrow', wrong_in_a_row, 'lock', now + wait)
redis.call('HINCRBY', KEYS[2], 'asked', 1)
return {status, question_id .. '\n' .. shown .. '\n' .. picked[1], withdrawn, latency, wait}
