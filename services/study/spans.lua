-- Whole-second spans as text ("a-b,c-d": sorted, disjoint), shared by the study scripts:
-- services/study/ledger.py puts this file before each script that merges spans.

-- The spans of ``text`` with [a, b) merged in.
local function merge_span(text, a, b)
  local spans = {}
  for x, y in string.gmatch(text, '(%d+)-(%d+)') do
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
  for i, span in ipairs(merged) do
    parts[i] = span[1] .. '-' .. span[2]
  end
  return table.concat(parts, ',')
end

