-- The study ledger's heartbeat, run atomically inside Redis: one round trip per heartbeat.
--
-- KEYS: 1 learner hash (active session, the tag of the login that opened it, pending
--         question, question schedule)
--       2 session hash (chapter figures, the ledger's rules, last accepted heartbeat,
--         carried slack, question pool)
--       3 progress hash of the learner's chapter (merged intervals, covered, credited)
--       4 the set of progress entries waiting to be written to PostgreSQL, 5 the set of
--         sessions whose evidence waits to be written
-- ARGV: 1 session id, 2 sequence number, 3 the segments played since the last accepted
--       report, oldest first ("from,to;from,to"), 4 position, 5 playing (1/0),
--       6 rate, 7 now (ms), 8 watched seconds until the next question should one be
--       scheduled now, 9 dirty-set member (keys expire as opening the session set them),
--       10 the tag of the login the token was issued to, 11 24 random hex digits (the
--       first 12 order a question's options, the rest are its one-time id), 12 chapter id,
--       13 the session's member of the evidence set ("L:sid")
-- Returns the refusal (expired, superseded, stale, too_soon, closed, absurd) or one string
-- "status|credit|covered|credited|finished_ms|reason|position|intervals|generation|question" (one bulk
-- reply is cheaper to read than many).

local sid = ARGV[1]
local seq = tonumber(ARGV[2])
local segments = {}
for x, y in string.gmatch(ARGV[3], '([^,;]+),([^,;]+)') do
  segments[#segments + 1] = {tonumber(x), tonumber(y)}
end
local playing = ARGV[5] == '1'
local rate = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
local next_gap = tonumber(ARGV[8])

-- The options' order for one showing of a question with n options: a Fisher-Yates shuffle
-- driven by the caller's random digits (Park-Miller, exact in Lua's doubles). Returns the
-- order ("2,0,1": the bank's indexes as shown) and where the right option is shown.
local function shuffled(n, digits, right)
  local order = {}
  for i = 1, n do order[i] = i - 1 end
  local x = tonumber(string.sub(digits, 1, 12), 16) % 2147483646 + 1
  for i = n, 2, -1 do
    x = (x * 16807) % 2147483647
    local j = x % i + 1
    order[i], order[j] = order[j], order[i]
  end
  local shown_right = 0
  for i = 1, n do
    if order[i] == right then shown_right = i - 1 end
  end
  return table.concat(order, ','), shown_right
end

local s = redis.call('HMGET', KEYS[2], 'last', 'carry', 'seq', 'ends', 'thr', 'dur', 'n',
  'gap', 'slack', 'maxr', 'qto', 'idle', 'mseg', 'acc', 'cr', 'dcap', 'msz', 'mf', 'rt', 'tn',
  'ts', 'tq', 'sv')

-- Whether the session fetched the media of every reported segment (whole seconds).
local function fetched_all(segments, fetched)
  for _, segment in ipairs(segments) do
    local a, b = math.floor(segment[1]), math.floor(segment[2])
    if b > a then
      local inside = false
      for x, y in string.gmatch(fetched, '(%d+)-(%d+)') do
        if a >= tonumber(x) and b <= tonumber(y) then inside = true break end
      end
      if not inside then return false end
    end
  end
  return true
end

-- Evidence: every refusal is counted in the session, by code.
local function refuse(code)
  redis.call('HINCRBY', KEYS[2], 'x:' .. code, 1)
  redis.call('SADD', KEYS[5], ARGV[13])
  return code
end
if not s[1] then
  return 'expired'
end
local min_gap = tonumber(s[8])
local slack = tonumber(s[9])
local max_rate = tonumber(s[10])
local question_timeout = tonumber(s[11])
local idle = tonumber(s[12])
local max_segment = tonumber(s[13])
local learner = redis.call('HMGET', KEYS[1], 'sid', 'q', 'qat', 'watched', 'nextq', 'qi', 'tag',
  'bt', 'bc', 'qid', 'qo', 'dday', 'dcr')
if learner[7] ~= ARGV[10] then
  -- The login that opened this session is over (logout, password change): nothing it
  -- opened counts again.
  redis.call('DEL', KEYS[2])
  return 'expired'
end
if learner[1] ~= sid then
  return refuse('superseded')
end
local last = tonumber(s[1])
if now - last > idle then
  redis.call('DEL', KEYS[2])
  return 'expired'
end
if seq <= tonumber(s[3]) then
  return refuse('stale')
end
if now - last < min_gap then
  return refuse('too_soon')
end
if now > tonumber(s[4]) then
  return refuse('closed')
end
for _, segment in ipairs(segments) do
  if segment[1] > tonumber(s[6]) + 5 or segment[2] > tonumber(s[6]) + 5 then
    return refuse('absurd')
  end
end

-- Evidence of the reports' rhythm: the count, sum and sum of squares of the intervals (ms)
-- between reports that passed the checks above; a script's fixed timer shows as a
-- coefficient of variation no phone keeps (services/study/signals.py).
local timing_n, timing_sum, timing_squares = tonumber(s[20]) or 0, tonumber(s[21]) or 0,
  tonumber(s[22]) or 0
local previous_report = tonumber(s[19])
if previous_report and now > previous_report then
  local interval = now - previous_report
  timing_n = timing_n + 1
  timing_sum = timing_sum + interval
  timing_squares = timing_squares + interval * interval
end

local p = redis.call('HMGET', KEYS[3], 'iv', 'cov', 'cred', 'fin', 'pos', 'gen')
local covered = tonumber(p[2]) or 0
local credited = tonumber(p[3]) or 0
local finished = tonumber(p[4]) or 0

-- A question waits: nothing counts, and the waiting time is not carried forward. Only the
-- sequence moves: the last accepted report stays where it was, so a question left
-- unanswered lets the session go idle and expire.
if learner[2] and learner[2] ~= '' then
  local status = 'question'
  if now - tonumber(learner[3]) > question_timeout then
    status = 'paused'
  end
  redis.call('HSET', KEYS[2], 'seq', seq, 'acc', (tonumber(s[14]) or 0) + 1, 'rt', now,
    'tn', timing_n, 'ts', timing_sum, 'tq', timing_squares)
  redis.call('HINCRBY', KEYS[2], 'u:' .. (status == 'paused' and 'question_timeout' or 'question'), 1)
  redis.call('SADD', KEYS[5], ARGV[13])
  return table.concat({status, 0, covered, credited, finished, 'question', tonumber(p[5]) or 0,
    p[1] or '', tonumber(p[6]) or 0, (learner[10] or '') .. '\n' .. (learner[11] or '') .. '\n' .. learner[2]}, '|')
end

-- Two budgets, and the smaller one pays: the session's (wall time since its last accepted
-- report plus carried slack) and the learner's, kept in the learner's hash across every
-- session, device and chapter (wall time since any session's last accepted report plus the
-- learner's carry). A new session starts the first afresh, never the second: a rounding
-- second paid in one session is repaid in the next.
local session_budget = (now - last) / 1000 + math.min(tonumber(s[2]) or 0, slack)
local budget = session_budget
local learner_at = tonumber(learner[8])
if learner_at then
  local learner_budget = (now - learner_at) / 1000 + math.min(tonumber(learner[9]) or 0, slack)
  if learner_budget < budget then budget = learner_budget end
end
if budget < 0 then budget = 0 end
local credit = 0
local reason = ''
local intervals = p[1] or ''
-- The spans this session newly covered (what its credit paid for), for a withdrawal of
-- this session alone.
local session_spans = s[23] or ''
local duration = tonumber(s[6])

local length = 0
local longest = 0
for _, segment in ipairs(segments) do
  local piece = segment[2] - segment[1]
  if piece > 0 then
    length = length + piece
    if piece > longest then longest = piece end
  end
end

-- A daily cap of study per learner, where the plan sets one (seconds; days in UTC+8).
local day = math.floor((now + 8 * 3600000) / 86400000)
local today = 0
if tonumber(learner[12]) == day then today = tonumber(learner[13]) or 0 end
local daily_cap = tonumber(s[16]) or 0

if rate > max_rate + 1e-9 then
  reason = 'rate'
elseif daily_cap > 0 and today >= daily_cap then
  reason = 'daily_cap'
elseif not playing then
  -- Nothing counts while the player says it is not playing, whatever it reports.
  reason = 'paused'
elseif length <= 0 then
  reason = 'still'
elseif longest > max_segment then
  -- Heartbeats come every 10-15 s; one report of a long stretch proves nothing (and one
  -- longer than the wall time is a seek or fast playback).
  if longest > budget + 1 then reason = 'jump' else reason = 'gap' end
elseif (tonumber(s[17]) or 0) > 0 and not fetched_all(segments, s[18] or '') then
  -- Media proof: the platform serves this chapter's media, and this session never fetched
  -- the part it reports.
  reason = 'no_media'
else
  for _, segment in ipairs(segments) do
    local from, to = segment[1], segment[2]
    if to > from then
      local a = math.floor(from)
      local b = math.min(math.floor(to), duration)
      if b > a then
        local head, last_start, last_end = string.match(intervals, '^(.-)(%d+)-(%d+)$')
        if intervals == '' then
          intervals = a .. '-' .. b
        elseif a >= tonumber(last_start) and a <= tonumber(last_end) then
          -- The usual case: playing on from within the furthest covered span.
          if b > tonumber(last_end) then
            intervals = head .. last_start .. '-' .. b
          end
        else
          intervals = merge_span(intervals, a, b)
        end
      end
    end
  end
  local total = 0
  for x, y in string.gmatch(intervals, '(%d+)-(%d+)') do
    total = total + tonumber(y) - tonumber(x)
  end
  credit = math.max(0, total - covered)
  if credit > budget + 1 then
    -- More new media than wall time allows: a seek, fast playback or a script covers
    -- nothing. (Segments already covered cost nothing: a report resent after its reply was
    -- lost.) Whole seconds round each span's ends down, so a report may overshoot its
    -- budget by one second at most; the next one repays it.
    credit = 0
    intervals = p[1] or ''
    reason = 'jump'
  elseif credit == 0 then
    reason = 'rewatch'
  else
    local new = spans_without(intervals, p[1] or '')
    if session_spans == '' then
      session_spans = new
    else
      for x, y in string.gmatch(new, '(%d+)-(%d+)') do
        session_spans = merge_span(session_spans, tonumber(x), tonumber(y))
      end
    end
  end
  covered = covered + credit
  credited = credited + credit
end

local status = 'ok'
if finished == 0 and covered >= tonumber(s[5]) then
  finished = now
  status = 'finished'
end

-- 防挂机: schedule and ask questions at random moments of watched time (never on a finished
-- chapter, which is only being reviewed).
local watched = (tonumber(learner[4]) or 0) + credit
local next_question = tonumber(learner[5])
if not next_question then
  next_question = watched + next_gap
end
local question = ''
local pool = tonumber(s[7]) or 0
if status == 'ok' and finished == 0 and watched >= next_question and pool > 0 then
  local index = tonumber(learner[6]) or 0
  local slot = index % pool
  local picked = redis.call('HMGET', KEYS[2], 'q' .. slot, 'a' .. slot, 'k' .. slot)
  local order, right = shuffled(tonumber(picked[3]), ARGV[11], tonumber(picked[2]))
  local question_id = string.sub(ARGV[11], 13)
  question = question_id .. '\n' .. order .. '\n' .. picked[1]
  redis.call('HSET', KEYS[1], 'q', picked[1], 'qa', right, 'qat', now, 'qi', index + 1,
    'qid', question_id, 'qo', order, 'qc', ARGV[12])
  redis.call('HINCRBY', KEYS[2], 'asked', 1)
  -- A wrong answer withdraws what was covered since the previous question: keep where the
  -- chapter stood then, and where it stands now for the next question.
  local before = redis.call('HMGET', KEYS[3], 'piv', 'pcov')
  redis.call('HSET', KEYS[3], 'wiv', before[1] or '', 'wcov', before[2] or 0, 'piv', intervals,
    'pcov', covered)
  next_question = watched + next_gap
end
redis.call('HSET', KEYS[1], 'watched', watched, 'nextq', next_question, 'dday', day,
  'dcr', today + credit)

-- What the budget has left once this credit is paid. Credit counts whole seconds of media,
-- so a segment from x.99 may cover a second more than was played; the carry goes below zero
-- and the next heartbeat pays it back: in sum, credit never outruns the wall time.
local carry = session_budget - credit
if carry > slack then carry = slack end
local learner_carry = budget - credit
if learner_carry > slack then learner_carry = slack end
local position = math.floor(tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], 'last', now, 'carry', carry, 'seq', seq,
  'acc', (tonumber(s[14]) or 0) + 1, 'cr', (tonumber(s[15]) or 0) + credit, 'rt', now,
  'tn', timing_n, 'ts', timing_sum, 'tq', timing_squares, 'sv', session_spans)
if reason ~= '' then redis.call('HINCRBY', KEYS[2], 'u:' .. reason, 1) end
redis.call('SADD', KEYS[5], ARGV[13])
redis.call('HSET', KEYS[1], 'bt', now, 'bc', learner_carry)
redis.call('HSET', KEYS[3], 'iv', intervals, 'cov', covered, 'cred', credited, 'fin', finished, 'pos', position)
redis.call('SADD', KEYS[4], ARGV[9])

return table.concat({status, credit, covered, credited, finished, reason, position, intervals,
  tonumber(p[6]) or 0, question}, '|')
