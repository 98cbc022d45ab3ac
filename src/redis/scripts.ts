/**
 * Lua scripts, each starting with `#!lua` so a key outside the declared ones fails on
 * every topology, not only on a cluster. Per-user scripts touch only that user's slot
 * (`{userId}` hash tag); index scripts touch only their own key.
 */

/** KEYS: state, contacts, blocks, blockedby. ARGV: other user or ''. Returns json, rev[, relation flags]. */
export const READ_USER = `#!lua flags=no-writes
local st = redis.call('HMGET', KEYS[1], 'json', 'rev')
local out = { st[1] or false, st[2] or '0' }
if ARGV[1] ~= '' then
  out[3] = redis.call('SISMEMBER', KEYS[2], ARGV[1])
  out[4] = redis.call('SISMEMBER', KEYS[3], ARGV[1])
  out[5] = redis.call('SISMEMBER', KEYS[4], ARGV[1])
end
return out
`;

/**
 * Compare-and-set of one user's transition. Validates (rev unchanged) before any write,
 * then writes state and relations, then publishes last: Redis does not roll back.
 * KEYS: state, contacts, blocks, blockedby, online marker, device ttl key.
 * ARGV: expected rev, state json, channel, message or '', other, contact op, blocks op,
 *       blockedBy op ('1' add, '0' remove, '' none), online ('1'/'0'), ttl op ('' | 'del' | ms).
 */
export const COMMIT_USER = `#!lua
local rev = redis.call('HGET', KEYS[1], 'rev') or '0'
if rev ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'rev', tostring(tonumber(rev) + 1))
local function relation(key, op)
  if op == '1' then redis.call('SADD', key, ARGV[5]) elseif op == '0' then redis.call('SREM', key, ARGV[5]) end
end
relation(KEYS[2], ARGV[6])
relation(KEYS[3], ARGV[7])
relation(KEYS[4], ARGV[8])
if ARGV[9] == '1' then redis.call('SET', KEYS[5], '1') else redis.call('DEL', KEYS[5]) end
if ARGV[10] == 'del' then redis.call('DEL', KEYS[6]) elseif ARGV[10] ~= '' then redis.call('SET', KEYS[6], '1', 'PX', ARGV[10]) end
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
`;

/** KEYS: due zset. ARGV: member, expected score, new score or ''. Moves or removes the entry only if unchanged. */
export const RESCHEDULE_DUE = `#!lua
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
`;

/** KEYS: node registry hash. ARGV: node id, epoch. Removes the node only if its epoch is still the reaped one. */
export const FORGET_NODE = `#!lua
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;
