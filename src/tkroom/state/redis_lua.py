"""The Lua scripts of the Redis backend: one script per atomic ``RoomState`` operation.

Each script mirrors one function of ``tkroom.rooms.transitions``; Redis runs a script without
interleaving any other command, so a script is as atomic across nodes as the pure function is
in one process. Scripts build their key names from the room prefix in ``ARGV[1]`` (a single
Redis server or a Sentinel pair, not Redis Cluster). Client JSON is stored as the strings the
node encoded and never re-encoded here (cjson would turn ``[]`` into ``{}`` and round large
numbers); scripts only ``cjson.decode`` the node's own member records, and read the
``fromID`` of a saved message (never re-encoding it).

Room keys, after the room prefix ``R``:

* ``order`` zset uid -> join number (members, in join order); ``mc`` join counter
* ``base`` hash uid -> member JSON without properties; ``p:<uid>`` hash prop -> value JSON
* ``rc`` hash role -> count; ``vis`` zset uid -> number (``vc`` counter): the members a big
  room shows (role <= 1 or on stage), in the order they became shown
* ``msg`` hash id -> saved message JSON (no ``seq``); ``mseq`` zset id -> seq; ``seq`` counter
* ``am`` / ``au`` hash id -> ``associatedMsgID`` / ``associatedUserID``; their indexes
  ``ch:<id>`` set of the ids associated with message ``id`` and ``bu:<uid>`` set of the ids
  associated with user ``uid``, so that a cascade costs what it removes, not what the room holds
* ``s`` event counter; ``w`` list of the last events, each ``"<s>\\n<event JSON>"``
* ``chat`` hash uid -> time of the last rate-limited chat (ms)
* ``bar`` hash uid -> time (ms) from which an evicted user may join again; the key expires
  a minute after its longest bar
* the classroom tools (``tkroom.rooms.tools``), under ``t:``: ``t:used`` set of the card ids
  asked; ``t:card`` hash of the open card (``qid``, ``q`` its question JSON, ``n`` options,
  ``multi``, ``deadline`` ms or 0, ``ver`` accepted answers); ``t:cnt`` hash option -> count;
  ``t:ans`` hash uid -> the answer as ``"0,2"``; ``t:bz`` hash of the buzzer (``round``,
  ``armed`` round or 0, ``winner``, ``at``); ``t:gift`` hash uid -> trophies. Every write
  keeps them for the idle time from then on.
"""

from __future__ import annotations

from tkroom.rooms.model import INHERITED_PROPS

_INHERITED = "{" + ", ".join(f"'{k}'" for k in INHERITED_PROPS) + "}"

_MEMBER = """
local function member_of(R, uid)
  local base = redis.call('HGET', R .. 'base', uid)
  if not base then return nil end
  return {base, redis.call('HGETALL', R .. 'p:' .. uid)}
end

local function show(R, uid)
  if not redis.call('ZSCORE', R .. 'vis', uid) then
    redis.call('ZADD', R .. 'vis', redis.call('INCR', R .. 'vc'), uid)
  end
end

local COUNTERS = {'rc', 'mc', 'vc', 's', 'w', 'seq', 'chat'}

-- an empty room without saved messages keeps its counters only for ``ttl`` ms, a used one forever
local function idle(R, ttl)
  for _, k in ipairs(COUNTERS) do redis.call('PEXPIRE', R .. k, ttl) end
end
local function busy(R)
  for _, k in ipairs(COUNTERS) do redis.call('PERSIST', R .. k) end
end

-- write the member ``uid`` (replacing the user's earlier record when ``oldrole`` is given);
-- its properties are ARGV[first_prop..]
-- inherited: property name/value pairs set over the given ones (a same-role rejoin keeps them);
-- a member that keeps its role keeps its shown state
local function put_member(R, uid, role, base, oldrole, visible, first_prop, inherited)
  busy(R)
  if oldrole then
    redis.call('HINCRBY', R .. 'rc', oldrole, -1)
    redis.call('DEL', R .. 'p:' .. uid)
  end
  redis.call('HINCRBY', R .. 'rc', role, 1)
  redis.call('HSET', R .. 'base', uid, base)
  if #ARGV >= first_prop then redis.call('HSET', R .. 'p:' .. uid, unpack(ARGV, first_prop)) end
  if #inherited > 0 then redis.call('HSET', R .. 'p:' .. uid, unpack(inherited)) end
  if not redis.call('ZSCORE', R .. 'order', uid) then
    redis.call('ZADD', R .. 'order', redis.call('INCR', R .. 'mc'), uid)
  end
  if oldrole ~= role then
    if visible == '1' then show(R, uid) else redis.call('ZREM', R .. 'vis', uid) end
  end
end

local function saved_messages(R)
  local out = {}
  local ids = redis.call('ZRANGE', R .. 'mseq', 0, -1, 'WITHSCORES')
  for i = 1, #ids, 2 do
    table.insert(out, {redis.call('HGET', R .. 'msg', ids[i]), ids[i + 1]})
  end
  return out
end

-- whether a saved message (raw JSON, or nil) may be replaced or deleted by author ('' = anyone)
local function authored_by(raw, author)
  if not raw or author == '' then return true end
  local ok, m = pcall(cjson.decode, raw)
  return ok and type(m) == 'table' and m.fromID == author
end

local function unindex(R, id)
  local am = redis.call('HGET', R .. 'am', id)
  if am then
    redis.call('SREM', R .. 'ch:' .. am, id)
    redis.call('HDEL', R .. 'am', id)
  end
  local au = redis.call('HGET', R .. 'au', id)
  if au then
    redis.call('SREM', R .. 'bu:' .. au, id)
    redis.call('HDEL', R .. 'au', id)
  end
end

local function index(R, id, am, au)
  if am ~= '' then
    redis.call('HSET', R .. 'am', id, am)
    redis.call('SADD', R .. 'ch:' .. am, id)
  end
  if au ~= '' then
    redis.call('HSET', R .. 'au', id, au)
    redis.call('SADD', R .. 'bu:' .. au, id)
  end
end

-- each removed message costs O(log n), whatever the room holds
local function delete_tree(R, root, out)
  local todo = {root}
  while #todo > 0 do
    local mid = table.remove(todo)
    local raw = redis.call('HGET', R .. 'msg', mid)
    if raw then
      table.insert(out, {raw, redis.call('ZSCORE', R .. 'mseq', mid)})
      redis.call('HDEL', R .. 'msg', mid)
      redis.call('ZREM', R .. 'mseq', mid)
      unindex(R, mid)
      for _, child in ipairs(redis.call('SMEMBERS', R .. 'ch:' .. mid)) do
        table.insert(todo, child)
      end
    end
  end
end

local function clear_messages(R)
  for _, am in ipairs(redis.call('HVALS', R .. 'am')) do redis.call('DEL', R .. 'ch:' .. am) end
  for _, au in ipairs(redis.call('HVALS', R .. 'au')) do redis.call('DEL', R .. 'bu:' .. au) end
  redis.call('DEL', R .. 'msg', R .. 'mseq', R .. 'am', R .. 'au')
end
"""

# ARGV: R, uid, role, base JSON, singlelogin, limit ("" = none), limit code, visible, props...
# A same-id member in the same role passes the INHERITED properties on (transitions.inherit);
# its shown state then stays as it was.
ADD_MEMBER = _MEMBER + f"local INHERITED = {_INHERITED}\n" + """
local R, uid, role = ARGV[1], ARGV[2], ARGV[3]
local barred = redis.call('HGET', R .. 'bar', uid)
if barred then
  -- 4108 = transitions.ERR_EVICTED, while the bar lasts at the joiner's joined_ms
  if tonumber(barred) > cjson.decode(ARGV[4]).joined_ms then return {4108, tonumber(barred)} end
  redis.call('HDEL', R .. 'bar', uid)
end
local old = member_of(R, uid)
local oldrole = nil
if old then
  if ARGV[5] == '1' then return {5208} end
  oldrole = tostring(cjson.decode(old[1]).role)
end
local limit = tonumber(ARGV[6])
if limit then
  local taken = tonumber(redis.call('HGET', R .. 'rc', role) or '0')
  if oldrole == role then taken = taken - 1 end
  if taken >= limit then return {tonumber(ARGV[7])} end
end
local inherited = {}
if old and oldrole == role then
  for _, k in ipairs(INHERITED) do
    local v = redis.call('HGET', R .. 'p:' .. uid, k)
    if v then
      table.insert(inherited, k)
      table.insert(inherited, v)
    end
  end
end
put_member(R, uid, role, ARGV[4], oldrole, ARGV[8], 9, inherited)
return {0, redis.call('ZCARD', R .. 'order'), old or false}
"""

# ARGV: R, uid, session ("" = any), keepstate ("1"), idle ttl (ms)
REMOVE_MEMBER = _MEMBER + """
local R, uid, session = ARGV[1], ARGV[2], ARGV[3]
local m = member_of(R, uid)
if m and session ~= '' and cjson.decode(m[1]).session ~= session then m = nil end
if not m then return {false, {}, redis.call('ZCARD', R .. 'order') == 0 and 1 or 0, {}} end
redis.call('HDEL', R .. 'base', uid)
redis.call('DEL', R .. 'p:' .. uid)
redis.call('ZREM', R .. 'order', uid)
redis.call('HINCRBY', R .. 'rc', tostring(cjson.decode(m[1]).role), -1)
redis.call('ZREM', R .. 'vis', uid)
redis.call('HDEL', R .. 'chat', uid)
local removed = {}
for _, id in ipairs(redis.call('SMEMBERS', R .. 'bu:' .. uid)) do delete_tree(R, id, removed) end
local empty = redis.call('ZCARD', R .. 'order') == 0
local cleared = {}
if empty and ARGV[4] ~= '1' then
  cleared = saved_messages(R)
  clear_messages(R)
end
if empty and redis.call('EXISTS', R .. 'msg') == 0 then idle(R, ARGV[5]) end
return {m, removed, empty and 1 or 0, cleared}
"""

# ARGV: R, uid, until_ms, now_ms: bar an evicted user until until_ms (never shortened). The
# times decide; the key's expiry (a minute after the last bar ends, for clock slack between the
# nodes and Redis) only frees the memory.
BAR_MEMBER = """
local key, uid = ARGV[1] .. 'bar', ARGV[2]
local untilms, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= now then redis.call('HDEL', key, all[i]) end
end
local cur = tonumber(redis.call('HGET', key, uid) or '0')
if untilms <= math.max(now, cur) then return 0 end
redis.call('HSET', key, uid, ARGV[3])
local ttl = untilms - now + 60000
if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
return 1
"""

# ARGV: R, uid, visible ("" = unchanged, "1", "0"), props...
UPDATE_PROPERTIES = _MEMBER + """
local R, uid = ARGV[1], ARGV[2]
local base = redis.call('HGET', R .. 'base', uid)
if not base then return false end
if #ARGV > 3 then redis.call('HSET', R .. 'p:' .. uid, unpack(ARGV, 4)) end
if ARGV[3] ~= '' then
  if ARGV[3] == '1' or cjson.decode(base).role <= 1 then
    show(R, uid)
  else
    redis.call('ZREM', R .. 'vis', uid)
  end
end
return member_of(R, uid)
"""

# ARGV: R, uids... (none = every member, in join order)
GET_MEMBERS = _MEMBER + """
local R = ARGV[1]
local uids = {}
if #ARGV == 1 then uids = redis.call('ZRANGE', R .. 'order', 0, -1) else uids = {unpack(ARGV, 2)} end
local out = {}
for _, uid in ipairs(uids) do
  local m = member_of(R, uid)
  if m then table.insert(out, m) end
end
return out
"""

# ARGV: R, bigroom ("1")
SNAPSHOT = _MEMBER + """
local R = ARGV[1]
local uids
if ARGV[2] == '1' then
  uids = redis.call('ZRANGE', R .. 'vis', 0, -1)
else
  uids = redis.call('ZRANGE', R .. 'order', 0, -1)
end
local members = {}
for _, uid in ipairs(uids) do table.insert(members, member_of(R, uid)) end
return {members, saved_messages(R), tonumber(redis.call('GET', R .. 's') or '0')}
"""

# ARGV: R
MESSAGES = _MEMBER + """
return saved_messages(ARGV[1])
"""

# ARGV: R, id, message JSON, associatedMsgID ("" = none), associatedUserID ("" = none),
# max in the room (0 = no limit), max associated with one user (0 = no limit), author ("" =
# anyone), max associated with one message (0 = no limit) -> {seq, old or false, refused ("",
# "author" with the current copy as old, or the limit: transitions.save_refusal)}. Every
# count is one O(1) read (ZCARD, SCARD), whatever the room holds.
SAVE_MESSAGE = _MEMBER + """
local R, id, am, au = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local max_room, max_user, max_children = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[9])
local old = redis.call('HGET', R .. 'msg', id)
if not authored_by(old, ARGV[8]) then
  return {0, {old, redis.call('ZSCORE', R .. 'mseq', id)}, 'author'}
end
if max_room > 0 and not old and redis.call('ZCARD', R .. 'mseq') >= max_room then
  return {0, false, 'room'}
end
if max_user > 0 and au ~= '' and not (old and redis.call('HGET', R .. 'au', id) == au)
    and redis.call('SCARD', R .. 'bu:' .. au) >= max_user then
  return {0, false, 'user'}
end
if max_children > 0 and am ~= '' and not (old and redis.call('HGET', R .. 'am', id) == am)
    and redis.call('SCARD', R .. 'ch:' .. am) >= max_children then
  return {0, false, 'children'}
end
busy(R)
local seq = redis.call('INCR', R .. 'seq')
local oldseq = redis.call('ZSCORE', R .. 'mseq', id)
if old then unindex(R, id) end
redis.call('HSET', R .. 'msg', id, ARGV[3])
redis.call('ZADD', R .. 'mseq', seq, id)
index(R, id, am, au)
if old then return {seq, {old, oldseq}, ''} end
return {seq, false, ''}
"""

# ARGV: R, id -> {JSON, seq} or false
GET_MESSAGE = """
local raw = redis.call('HGET', ARGV[1] .. 'msg', ARGV[2])
if not raw then return false end
return {raw, redis.call('ZSCORE', ARGV[1] .. 'mseq', ARGV[2])}
"""

# ARGV: R, id, author ("" = anyone) -> the removed messages, or false when not author's
DELETE_MESSAGE = _MEMBER + """
if not authored_by(redis.call('HGET', ARGV[1] .. 'msg', ARGV[2]), ARGV[3]) then return false end
local out = {}
delete_tree(ARGV[1], ARGV[2], out)
return out
"""

# ARGV: R, parent -> {how many messages were associated with ``parent`` (all removed), the
# messages their removal took along}: transitions.delete_children (a board page's clear). The
# page's own shapes are removed without being read.
DELETE_CHILDREN = _MEMBER + """
local R = ARGV[1]
local n, kids, out = 0, {}, {}
for _, id in ipairs(redis.call('SMEMBERS', R .. 'ch:' .. ARGV[2])) do
  if redis.call('HDEL', R .. 'msg', id) == 1 then
    n = n + 1
    redis.call('ZREM', R .. 'mseq', id)
    for _, kid in ipairs(redis.call('SMEMBERS', R .. 'ch:' .. id)) do table.insert(kids, kid) end
    unindex(R, id)
  end
end
for _, kid in ipairs(kids) do delete_tree(R, kid, out) end
return {n, out}
"""

# ARGV: R, uid, now_ms, min_gap_ms
CHAT_GATE = """
local R, uid, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local last = redis.call('HGET', R .. 'chat', uid)
if last and now - tonumber(last) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', R .. 'chat', uid, ARGV[3])
return 1
"""

_KEEP_S = """
-- the room's event counter never goes back below what a node already delivered (Redis lost
-- recent writes): it continues after ``floor``, and the replay window, which no longer
-- joins up with it, starts afresh
local function keep_s_above(R, floor)
  if tonumber(redis.call('GET', R .. 's') or '0') < floor then
    redis.call('SET', R .. 's', floor)
    redis.call('DEL', R .. 'w')
  end
end
"""

# ARGV: R, channel, window, event JSON, floor (the last ``s`` the publishing node delivered)
# -> s. The one PUBLISH of the event, in ``s`` order.
PUBLISH = _KEEP_S + """
local R = ARGV[1]
keep_s_above(R, tonumber(ARGV[5]))
local s = redis.call('INCR', R .. 's')
local entry = s .. '\\n' .. ARGV[4]
redis.call('RPUSH', R .. 'w', entry)
redis.call('LTRIM', R .. 'w', -tonumber(ARGV[3]), -1)
redis.call('PUBLISH', ARGV[2], entry)
return s
"""

# ARGV: R, after -> {1, entries} or {0} when some are no longer in the window
REPLAY = """
local R, after = ARGV[1], tonumber(ARGV[2])
local s = tonumber(redis.call('GET', R .. 's') or '0')
if after >= s then return {1, {}} end
local len = redis.call('LLEN', R .. 'w')
local first = s - len + 1
if len == 0 or first > after + 1 then return {0} end
return {1, redis.call('LRANGE', R .. 'w', after + 1 - first, -1)}
"""

# Session scripts. G = global prefix; a session is the hash G .. 'sess:' .. sid with fields
# token, serial, userid, deadline ("" while attached), node; G .. 'detached' zset sid ->
# deadline; G .. 'node:' .. id set of the sessions attached on that node.
_SESSION = """
local function session_of(G, sid)
  local h = redis.call('HMGET', G .. 'sess:' .. sid, 'token', 'serial', 'userid', 'deadline', 'node')
  if not h[1] then return nil end
  return h
end
local function forget(G, sid, s)
  redis.call('DEL', G .. 'sess:' .. sid)
  redis.call('ZREM', G .. 'detached', sid)
  redis.call('SREM', G .. 'node:' .. s[5], sid)
end
"""

# ARGV: G, sid, token, serial, userid, node
OPEN_SESSION = """
local G, sid = ARGV[1], ARGV[2]
redis.call('HSET', G .. 'sess:' .. sid, 'token', ARGV[3], 'serial', ARGV[4], 'userid', ARGV[5],
           'deadline', '', 'node', ARGV[6])
redis.call('ZREM', G .. 'detached', sid)
redis.call('SADD', G .. 'node:' .. ARGV[6], sid)
return 1
"""

# ARGV: G, sid, deadline, node. Only the node the session is attached to may detach it: a
# socket of a session that already moved to another node must not start its grace period.
DETACH_SESSION = _SESSION + """
local G, sid = ARGV[1], ARGV[2]
local s = session_of(G, sid)
if not s or (s[4] == '' and s[5] ~= ARGV[4]) then return 0 end
redis.call('HSET', G .. 'sess:' .. sid, 'deadline', ARGV[3])
redis.call('ZADD', G .. 'detached', ARGV[3], sid)
redis.call('SREM', G .. 'node:' .. s[5], sid)
return 1
"""

# ARGV: G, sid, token, node, room prefix of the session's serial is looked up here
ATTACH_SESSION = _SESSION + """
local G, sid = ARGV[1], ARGV[2]
local s = session_of(G, sid)
if not s or s[1] ~= ARGV[3] then return false end
local R = G .. 'r:' .. string.len(s[2]) .. ':' .. s[2] .. ':'
local base = redis.call('HGET', R .. 'base', s[3])
if not base or cjson.decode(base).session ~= sid then return false end
redis.call('SREM', G .. 'node:' .. s[5], sid)
redis.call('HSET', G .. 'sess:' .. sid, 'deadline', '', 'node', ARGV[4])
redis.call('ZREM', G .. 'detached', sid)
redis.call('SADD', G .. 'node:' .. ARGV[4], sid)
s[4] = ''
s[5] = ARGV[4]
return s
"""

# ARGV: G, sid, now
EXPIRE_SESSION = _SESSION + """
local G, sid = ARGV[1], ARGV[2]
local s = session_of(G, sid)
if not s or s[4] == '' or tonumber(s[4]) > tonumber(ARGV[3]) then return false end
forget(G, sid, s)
return s
"""

# ARGV: G, sid
CLOSE_SESSION = _SESSION + """
local s = session_of(ARGV[1], ARGV[2])
if s then forget(ARGV[1], ARGV[2], s) end
return 1
"""

# ARGV: G, now, grace. Sessions attached on a node whose heartbeat key expired (it crashed)
# are detached with a fresh grace period, then the detached sessions past their deadline.
EXPIRED_SESSIONS = """
local G, now = ARGV[1], tonumber(ARGV[2])
for _, node in ipairs(redis.call('SMEMBERS', G .. 'nodes')) do
  if redis.call('EXISTS', G .. 'hb:' .. node) == 0 then
    local deadline = tostring(now + tonumber(ARGV[3]))
    for _, sid in ipairs(redis.call('SMEMBERS', G .. 'node:' .. node)) do
      if redis.call('HGET', G .. 'sess:' .. sid, 'deadline') == '' then
        redis.call('HSET', G .. 'sess:' .. sid, 'deadline', deadline)
        redis.call('ZADD', G .. 'detached', deadline, sid)
      end
    end
    redis.call('DEL', G .. 'node:' .. node)
    redis.call('SREM', G .. 'nodes', node)
  end
end
return redis.call('ZRANGEBYSCORE', G .. 'detached', '-inf', ARGV[2])
"""

# ARGV: G, node, ttl_ms -> 1 when the node was still known as alive, 0 when it was reaped
HEARTBEAT = """
local G, node = ARGV[1], ARGV[2]
local alive = redis.call('SISMEMBER', G .. 'nodes', node)
redis.call('SET', G .. 'hb:' .. node, '1', 'PX', ARGV[3])
redis.call('SADD', G .. 'nodes', node)
return alive
"""

# ARGV: G, node, sids... : a node that was wrongly reaped (e.g. a long pause) takes back the
# sessions whose sockets it still holds, unless they moved or expired meanwhile.
RECLAIM = _SESSION + """
local G, node = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV do
  local sid = ARGV[i]
  local s = session_of(G, sid)
  if s and (s[5] == node) then
    redis.call('HSET', G .. 'sess:' .. sid, 'deadline', '')
    redis.call('ZREM', G .. 'detached', sid)
    redis.call('SADD', G .. 'node:' .. node, sid)
    n = n + 1
  end
end
return n
"""

# ARGV: G, R, uid, role, base JSON, visible, floor, sid, token, serial, node, joined_ms, props...
# -> 1 when the member and its session are (again) attached on ``node``, 0 when they belong
# elsewhere now. After Redis lost data (a restart): a node puts back a member it holds the
# socket of, as it knows it (its properties are the latest: a change lost with Redis's last
# writes still reached the node as an event), unless Redis has a newer session of the user.
RESTORE_MEMBER = _MEMBER + _KEEP_S + _SESSION + """
local G, R, uid, sid, node = ARGV[1], ARGV[2], ARGV[3], ARGV[8], ARGV[11]
keep_s_above(R, tonumber(ARGV[7]))
local s = session_of(G, sid)
if s and s[4] == '' and s[5] ~= node then return 0 end
local old = member_of(R, uid)
local oldrole = nil
if old then
  local o = cjson.decode(old[1])
  if o.session ~= sid and (o.joined_ms or 0) >= tonumber(ARGV[12]) then return 0 end
  oldrole = tostring(o.role)
end
put_member(R, uid, ARGV[4], ARGV[5], oldrole, ARGV[6], 13, {})
if s then redis.call('SREM', G .. 'node:' .. s[5], sid) end
redis.call('HSET', G .. 'sess:' .. sid, 'token', ARGV[9], 'serial', ARGV[10], 'userid', uid,
           'deadline', '', 'node', node)
redis.call('ZREM', G .. 'detached', sid)
redis.call('SADD', G .. 'node:' .. node, sid)
return 1
"""

# ARGV: G, node, deadline, held sids... -> how many were detached. After a restore, the sessions
# Redis still records on ``node`` whose socket the node no longer holds (they left or dropped
# while Redis was away) get a grace period, so they resume elsewhere or expire and leave.
RELEASE_UNHELD = """
local G, node = ARGV[1], ARGV[2]
local held = {}
for i = 4, #ARGV do held[ARGV[i]] = true end
local n = 0
for _, sid in ipairs(redis.call('SMEMBERS', G .. 'node:' .. node)) do
  if not held[sid] then
    if redis.call('HGET', G .. 'sess:' .. sid, 'deadline') == '' then
      redis.call('HSET', G .. 'sess:' .. sid, 'deadline', ARGV[3])
      redis.call('ZADD', G .. 'detached', ARGV[3], sid)
      n = n + 1
    end
    redis.call('SREM', G .. 'node:' .. node, sid)
  end
end
return n
"""

_TOOLS = """
local TOOL_KEYS = {'used', 'card', 'cnt', 'ans', 'bz', 'gift'}
local function touch(T, ttl)
  for _, k in ipairs(TOOL_KEYS) do redis.call('PEXPIRE', T .. k, ttl) end
end

local function counts(T, n)
  local fields = {}
  for i = 0, n - 1 do fields[i + 1] = tostring(i) end
  local out = redis.call('HMGET', T .. 'cnt', unpack(fields))
  for i = 1, n do out[i] = tonumber(out[i] or '0') end
  return out
end

-- the open card as it closes: {qid, question JSON, counts, {uid, answer, ...}}; its keys go
local function close_open(T)
  local card = redis.call('HMGET', T .. 'card', 'qid', 'q', 'n')
  local out = {card[1], card[2], counts(T, tonumber(card[3])), redis.call('HGETALL', T .. 'ans')}
  redis.call('DEL', T .. 'card', T .. 'cnt', T .. 'ans')
  return out
end
"""

# ARGV: T (room prefix .. 't:'), qid, question JSON, options, multiple ("1"), deadline ms (0),
# max cards, ttl ms, right ("0,2" or '') -> {0, closed card or false} | {103}: tools.open_card
OPEN_CARD = _TOOLS + """
local T, qid = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', T .. 'used', qid) == 1
    or redis.call('SCARD', T .. 'used') >= tonumber(ARGV[7]) then
  return {103}
end
local prev = false
if redis.call('EXISTS', T .. 'card') == 1 then prev = close_open(T) end
redis.call('SADD', T .. 'used', qid)
redis.call('HSET', T .. 'card', 'qid', qid, 'q', ARGV[3], 'n', ARGV[4], 'multi', ARGV[5],
           'deadline', ARGV[6], 'ver', 0, 'right', ARGV[9])
touch(T, ARGV[8])
return {0, prev}
"""

# ARGV: T, qid, uid, answer ("0,2", sorted), highest index, how many, now ms, ttl ms
# -> {0, counts, answered, version, right} | {4105, why} | {103}: tools.answer_card
ANSWER_CARD = _TOOLS + """
local T, uid = ARGV[1], ARGV[3]
local card = redis.call('HMGET', T .. 'card', 'qid', 'n', 'multi', 'deadline')
if card[1] ~= ARGV[2] then return {4105, 'closed'} end
local deadline = tonumber(card[4])
if deadline > 0 and tonumber(ARGV[7]) > deadline then return {4105, 'late'} end
local n = tonumber(card[2])
if tonumber(ARGV[5]) >= n or (card[3] ~= '1' and tonumber(ARGV[6]) ~= 1) then return {103} end
local old = redis.call('HGET', T .. 'ans', uid)
if old then
  for i in string.gmatch(old, '%d+') do redis.call('HINCRBY', T .. 'cnt', i, -1) end
end
for i in string.gmatch(ARGV[4], '%d+') do redis.call('HINCRBY', T .. 'cnt', i, 1) end
redis.call('HSET', T .. 'ans', uid, ARGV[4])
local ver = redis.call('HINCRBY', T .. 'card', 'ver', 1)
touch(T, ARGV[8])
return {0, counts(T, n), redis.call('HLEN', T .. 'ans'), ver,
        redis.call('HGET', T .. 'card', 'right')}
"""

# ARGV: T, qid -> the closed card (see close_open) or false: tools.close_card
CLOSE_CARD = _TOOLS + """
if redis.call('HGET', ARGV[1] .. 'card', 'qid') ~= ARGV[2] then return false end
return close_open(ARGV[1])
"""

# ARGV: T, ttl ms -> {round, last winner or ''}: tools.arm
ARM_BUZZER = _TOOLS + """
local T = ARGV[1]
local prev = redis.call('HGET', T .. 'bz', 'winner') or ''
local round = redis.call('HINCRBY', T .. 'bz', 'round', 1)
redis.call('HSET', T .. 'bz', 'armed', round, 'winner', '', 'at', 0)
touch(T, ARGV[2])
return {round, prev}
"""

# ARGV: T, round, uid, now ms, ttl ms -> {code, winner, pressed_at}: tools.press
PRESS_BUZZER = _TOOLS + """
local T = ARGV[1]
local bz = redis.call('HMGET', T .. 'bz', 'armed', 'winner', 'at')
if not bz[1] or tonumber(bz[1]) == 0 or tonumber(bz[1]) ~= tonumber(ARGV[2]) then
  return {4105, '', 0}
end
if bz[2] and bz[2] ~= '' then return {2602, bz[2], tonumber(bz[3])} end
redis.call('HSET', T .. 'bz', 'winner', ARGV[3], 'at', ARGV[4])
touch(T, ARGV[5])
return {0, ARGV[3], tonumber(ARGV[4])}
"""

# ARGV: T -> the winner whose message goes ('' = none): tools.disarm
DISARM_BUZZER = """
local T = ARGV[1]
local prev = redis.call('HGET', T .. 'bz', 'winner') or ''
if redis.call('EXISTS', T .. 'bz') == 1 then
  redis.call('HSET', T .. 'bz', 'armed', 0, 'winner', '', 'at', 0)
end
return prev
"""

# ARGV: R, T, ttl ms, uids... -> {uid, total, ...}: tools.give, and the present receivers'
# giftnumber property set to their totals in the same step
GIVE_GIFTS = _TOOLS + """
local R, T = ARGV[1], ARGV[2]
local out = {}
for i = 4, #ARGV do
  local uid = ARGV[i]
  local n = redis.call('HINCRBY', T .. 'gift', uid, 1)
  if redis.call('HEXISTS', R .. 'base', uid) == 1 then
    redis.call('HSET', R .. 'p:' .. uid, 'giftnumber', tostring(n))
  end
  table.insert(out, uid)
  table.insert(out, n)
end
touch(T, ARGV[3])
return out
"""

# ARGV: T -> the open card, closed (see close_open), or false; every tool key goes
CLEAR_TOOLS = _TOOLS + """
local T = ARGV[1]
local card = false
if redis.call('EXISTS', T .. 'card') == 1 then card = close_open(T) end
for _, k in ipairs(TOOL_KEYS) do redis.call('DEL', T .. k) end
return card
"""

# The class's media room: ``R .. 'media'`` hash server, room, epoch.
# ARGV: R, server, room, replaces (0: only when there is none; n: only when epoch is n)
CLAIM_MEDIA_ROOM = """
local R, replaces = ARGV[1], tonumber(ARGV[4])
local cur = redis.call('HMGET', R .. 'media', 'server', 'room', 'epoch')
local epoch = tonumber(cur[3] or '0')
if epoch ~= replaces then
  if not cur[3] then return {0} end
  return {0, cur[1], cur[2], epoch}
end
redis.call('HSET', R .. 'media', 'server', ARGV[2], 'room', ARGV[3], 'epoch', epoch + 1)
return {1, ARGV[2], ARGV[3], epoch + 1}
"""

# ARGV: R. Forget the record only when the room has no member on any node.
RELEASE_MEDIA_ROOM = """
local R = ARGV[1]
if redis.call('ZCARD', R .. 'order') > 0 then return {} end
local cur = redis.call('HMGET', R .. 'media', 'server', 'room', 'epoch')
if not cur[3] then return {} end
redis.call('DEL', R .. 'media')
return {cur[1], cur[2], tonumber(cur[3])}
"""


# ---- stream claims (``tkroom.rooms.streams``) --------------------------------------------
# ``R .. 'sc'`` hash stream id -> "<node>\t<v><a>\t<userid>" (v, a: 0 or 1); each node's index
# ``G .. 'sn:' .. node`` hash R -> how many claims it holds there, and ``G .. 'snodes'`` the
# set of nodes holding some, so the claims of a node found dead are found without a scan.
_STREAMS = """
local function claim_of(c)
  local node, v, a, uid = string.match(c, '^([^\\t]*)\\t([01])([01])\\t(.*)$')
  return node, v == '1', a == '1', uid
end
local function unindex(G, R, node)
  if redis.call('HINCRBY', G .. 'sn:' .. node, R, -1) <= 0 then
    redis.call('HDEL', G .. 'sn:' .. node, R)
  end
end
"""

# ARGV: G, R, stream id, userid, node, has_video, has_audio, maxvideo, maxaudio, take_over
# -> nil when admitted, else 'taken', 'video' or 'audio' (``streams.claim``)
CLAIM_STREAM = _STREAMS + """
local G, R, sid, node = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local v, a = ARGV[6] == '1', ARGV[7] == '1'
local maxvideo, maxaudio = tonumber(ARGV[8]), tonumber(ARGV[9])
local held = redis.call('HGET', R .. 'sc', sid)
local from = nil
if held then
  local hnode, _, _, huid = claim_of(held)
  if ARGV[10] ~= '1' or huid ~= ARGV[4] or hnode == node then return 'taken' end
  from = hnode
end
local nv, na = 0, 0
local all = redis.call('HGETALL', R .. 'sc')
for i = 1, #all, 2 do
  if all[i] ~= sid then
    local _, cv, ca = claim_of(all[i + 1])
    if cv then nv = nv + 1 end
    if ca then na = na + 1 end
  end
end
if v and maxvideo >= 0 and nv >= maxvideo then return 'video' end
if a and maxaudio > 0 and na >= maxaudio then return 'audio' end
redis.call('HSET', R .. 'sc', sid, node .. '\\t' .. (v and '1' or '0') .. (a and '1' or '0') ..
           '\\t' .. ARGV[4])
if from then unindex(G, R, from) end
redis.call('HINCRBY', G .. 'sn:' .. node, R, 1)
redis.call('SADD', G .. 'snodes', node)
return false
"""

# ARGV: G, R, stream id, node -> 1 when the node's claim went (``streams.release``)
RELEASE_STREAM = _STREAMS + """
local G, R, sid, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local c = redis.call('HGET', R .. 'sc', sid)
if not c or claim_of(c) ~= node then return 0 end
redis.call('HDEL', R .. 'sc', sid)
unindex(G, R, node)
return 1
"""

# ARGV: G, R -> how many claims went; only when the room has no member on any node
RELEASE_STREAMS = _STREAMS + """
local G, R = ARGV[1], ARGV[2]
if redis.call('ZCARD', R .. 'order') > 0 then return 0 end
local all = redis.call('HGETALL', R .. 'sc')
for i = 1, #all, 2 do unindex(G, R, (claim_of(all[i + 1]))) end
redis.call('DEL', R .. 'sc')
return #all / 2
"""

# The sweep of ``EXPIRED_SESSIONS`` (ARGV[1] = G) releases, in the same step, the claims of
# every node whose heartbeat key expired: a dead node never holds the stage.
_DEAD_NODES_STREAMS = _STREAMS + """
do
  local G = ARGV[1]
  for _, node in ipairs(redis.call('SMEMBERS', G .. 'snodes')) do
    if redis.call('EXISTS', G .. 'hb:' .. node) == 0 then
      for _, R in ipairs(redis.call('HKEYS', G .. 'sn:' .. node)) do
        local all = redis.call('HGETALL', R .. 'sc')
        for i = 1, #all, 2 do
          if claim_of(all[i + 1]) == node then redis.call('HDEL', R .. 'sc', all[i]) end
        end
      end
      redis.call('DEL', G .. 'sn:' .. node)
      redis.call('SREM', G .. 'snodes', node)
    end
  end
end
"""
SWEEP_SESSIONS_AND_STREAMS = _DEAD_NODES_STREAMS + EXPIRED_SESSIONS
# The class's recording: ``R .. 'rec'`` hash id, started_ms, holder, segment, lease_until,
# previous (``tkroom.rooms.recording.claim``).
_REC = """
local function rec_reply(k, taken)
  local c = redis.call('HMGET', k, 'id', 'started_ms', 'holder', 'segment', 'lease_until',
                       'previous')
  if not c[1] then return {} end
  return {c[1], c[2], c[3], c[4], c[5], c[6] or '', taken}
end
"""

# ARGV: R, node, now_ms, ttl_ms, new_id
CLAIM_RECORDING = _REC + """
local k, node, now, ttl = ARGV[1] .. 'rec', ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local c = redis.call('HMGET', k, 'holder', 'segment', 'lease_until')
if not c[1] then
  if ARGV[5] == '' then return {} end
  redis.call('HSET', k, 'id', ARGV[5], 'started_ms', ARGV[3], 'holder', node, 'segment', 1,
             'lease_until', string.format('%.0f', now + ttl), 'previous', '')
  return rec_reply(k, 1)
end
if tonumber(c[3]) < now and c[1] ~= node then
  redis.call('HSET', k, 'holder', node, 'segment', tonumber(c[2]) + 1,
             'lease_until', string.format('%.0f', now + ttl), 'previous', c[1])
  return rec_reply(k, 1)
end
return rec_reply(k, 0)
"""

# ARGV: R, node, id, now_ms, ttl_ms -> 1 when renewed
RENEW_RECORDING = """
local k = ARGV[1] .. 'rec'
local c = redis.call('HMGET', k, 'id', 'holder')
if c[1] ~= ARGV[3] or c[2] ~= ARGV[2] then return 0 end
redis.call('HSET', k, 'lease_until', string.format('%.0f', tonumber(ARGV[4]) + tonumber(ARGV[5])))
return 1
"""

# ARGV: R, id -> the record, removed, when it is recording id
END_RECORDING = _REC + """
local k = ARGV[1] .. 'rec'
if redis.call('HGET', k, 'id') ~= ARGV[2] then return {} end
local out = rec_reply(k, 0)
redis.call('DEL', k)
return out
"""
