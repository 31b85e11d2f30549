-- Record that a playback session fetched a part of its chapter's media.
--
-- KEYS: 1 session hash
-- ARGV: 1 first second, 2 last second (exclusive) the fetched bytes cover, 3 bytes served
-- Merges [a, b) into the session's fetched spans ('mf', "a-b,c-d") and counts the bytes
-- ('mb'). Returns 0 when the session is gone.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local a = tonumber(ARGV[1])
local b = tonumber(ARGV[2])
local spans = {}
for x, y in string.gmatch(redis.call('HGET', KEYS[1], 'mf') or '', '(%d+)-(%d+)') do
  spans[#spans + 1] = {tonumber(x), tonumber(y)}
end
spans[#spans + 1] = {a, b}
table.sort(spans, function(u, v) return u[1] < v[1] end)
local merged = {}
for _, span in ipairs(spans) do
  local top = merged[#merged]
  if top and span[1] <= top[2] then
    if span[2] > top[2] then top[2] = span[2] end
  else
    merged[#merged + 1] = {span[1], span[2]}
  end
end
local parts = {}
for i, span in ipairs(merged) do parts[i] = span[1] .. '-' .. span[2] end
redis.call('HSET', KEYS[1], 'mf', table.concat(parts, ','))
redis.call('HINCRBY', KEYS[1], 'mb', tonumber(ARGV[3]))
return 1
