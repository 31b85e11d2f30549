-- Whole-second spans as text ("a-b,c-d": sorted, disjoint), shared by the study scripts:
-- services/study/ledger.py puts this file before each script that merges spans.

-- The parts of the spans ``text`` that ``old`` does not cover (both sorted and disjoint).
local function spans_without(text, old)
  local gone = {}
  for x, y in string.gmatch(old, '(%d+)-(%d+)') do
    gone[#gone + 1] = {tonumber(x), tonumber(y)}
  end
  local parts = {}
  local j = 1
  for x, y in string.gmatch(text, '(%d+)-(%d+)') do
    local a, b = tonumber(x), tonumber(y)
    while j <= #gone and gone[j][2] <= a do j = j + 1 end
    local k = j
    while a < b do
      local g = gone[k]
      if not g or g[1] >= b then
        parts[#parts + 1] = a .. '-' .. b
        break
      end
      if g[1] > a then parts[#parts + 1] = a .. '-' .. g[1] end
      if g[2] > a then a = g[2] end
      k = k + 1
    end
  end
  return table.concat(parts, ',')
end

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

