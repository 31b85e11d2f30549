-- Record that a playback session fetched a part of its chapter's media.
--
-- KEYS: 1 session hash
-- ARGV: 1 first second, 2 last second (exclusive) the fetched bytes cover, 3 bytes served
-- Merges [a, b) into the session's fetched spans ('mf', "a-b,c-d") and counts the bytes
-- ('mb'). Returns 0 when the session is gone. (``merge_span`` comes from spans.lua.)

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local a = tonumber(ARGV[1])
local b = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'mf', merge_span(redis.call('HGET', KEYS[1], 'mf') or '', a, b))
redis.call('HINCRBY', KEYS[1], 'mb', tonumber(ARGV[3]))
return 1
