/**
 * The Redis store. Each command is an optimistic transaction on the user's slot: read
 * state + relation (one script), run the pure `transition` in Node, then commit with a
 * compare-and-set script that also publishes the message. A lost race re-reads and
 * re-runs, so the rules exist once (in TypeScript) and every transition is still one
 * atomic step on the user's slot. Index keys (due buckets, node sets) live in other
 * slots: written before the state they index, removed after it by compare-and-delete.
 */
import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import { Clock } from '../../clock';
import { ServiceUnavailableError } from '../../errors';
import { Relation, UserState, emptyUserState } from '../presence.model';
import {
  DueEntry,
  OnlinePage,
  PresenceStore,
  ViewSnapshot,
  deadlineBeforeCommit,
  deviceIdOf,
  dueBucketOf,
  newIncarnation,
  relationOtherOf,
} from '../presence.store';
import { PresenceCommand, TransitionResult, transition, viewFor } from '../presence.transition';
import { COMMIT_USER, READ_USER, RESCHEDULE_DUE } from '../../redis/scripts';
import { splitMember } from './memory';
import { corkForThisTick } from '../../cork';

/** Buckets spread the due index over slots (Cluster); the sweeper reads them all in one pipeline. */
const DUE_BUCKETS = 16;
const MAX_ATTEMPTS = 100;

type ReadReply = [string | null, string, number?, number?, number?];

interface ScriptCommands {
  presenceRead(state: string, contacts: string, blocks: string, blockedBy: string, other: string): Promise<ReadReply>;
  presenceCommit(...args: string[]): Promise<number>;
  presenceReschedule(due: string, member: string, expected: string, next: string): Promise<number>;
}
type ScriptedRedis = Redis & ScriptCommands;
type ScriptedPipeline = ChainableCommander & {
  presenceRead(state: string, contacts: string, blocks: string, blockedBy: string, other: string): ChainableCommander;
  presenceReschedule(due: string, member: string, expected: string, next: string): ChainableCommander;
};

/** Key names; every per-user key carries the `{userId}` hash tag. */
export class PresenceKeys {
  constructor(readonly prefix: string) {}
  user(u: string, suffix: string): string {
    return `${this.prefix}:{${u}}:${suffix}`;
  }
  state(u: string): string {
    return this.user(u, 'state');
  }
  channel(u: string): string {
    return this.user(u, 'events');
  }
  ttl(u: string, d: string): string {
    return this.user(u, `ttl:${d}`);
  }
  due(bucket: number): string {
    return `${this.prefix}:due:{${bucket}}`;
  }
  nodeDevices(n: string): string {
    return `${this.prefix}:{node:${n}}:devices`;
  }
  nodeLease(n: string): string {
    return `${this.prefix}:{node:${n}}:lease`;
  }
  nodes(): string {
    return `${this.prefix}:nodes`;
  }
  /** Parses `prefix:{u}:ttl:d` back into its user and device. */
  parseTtl(key: string): { userId: string; deviceId: string } | null {
    const start = `${this.prefix}:{`;
    if (!key.startsWith(start)) return null;
    const close = key.indexOf('}:ttl:', start.length);
    if (close < 0) return null;
    return { userId: key.slice(start.length, close), deviceId: key.slice(close + 6) };
  }
}

/** Registers the scripts as ioredis commands (EVALSHA with automatic EVAL fallback). */
export function defineScripts(redis: Redis): ScriptedRedis {
  redis.defineCommand('presenceRead', { numberOfKeys: 4, lua: READ_USER });
  redis.defineCommand('presenceCommit', { numberOfKeys: 6, lua: COMMIT_USER });
  redis.defineCommand('presenceReschedule', { numberOfKeys: 1, lua: RESCHEDULE_DUE });
  return redis as ScriptedRedis;
}

function parseState(userId: string, json: string | null): UserState {
  return json ? (JSON.parse(json) as UserState) : emptyUserState(userId);
}

function relationOf(reply: ReadReply): Relation {
  return { contact: reply[2] === 1, blocks: reply[3] === 1, blockedBy: reply[4] === 1 };
}

const op = (value: boolean | undefined): string => (value === undefined ? '' : value ? '1' : '0');

/** Turns connection-level failures into a clear GraphQL error; keeps other errors as they are. */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Error && /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|max retries|Redis is loading|LOADING/i.test(error.message)) {
      throw new ServiceUnavailableError();
    }
    throw error;
  }
}

/**
 * Holds the connection's writes for this tick (corkForThisTick), so the commands issued next
 * leave in one write: one round trip. This is what ioredis's auto-pipelining did for us,
 * without the Pipeline object it builds per batch; at half load those promoted ~5 KB per
 * mutation into the old generation (a mark-compact every few seconds) and doubled the
 * fan-out p99 (README, Performance). Commands on one connection stay in order either way.
 */
function holdWrites(redis: Redis): void {
  if (redis.status === 'ready') corkForThisTick(redis.stream);
}

export class RedisPresenceStore implements PresenceStore {
  readonly backend = 'redis' as const;
  readonly events = new EventEmitter();
  readonly keys: PresenceKeys;
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly clock: Clock,
  ) {
    this.redis = defineScripts(redis);
    this.keys = new PresenceKeys(prefix);
  }

  private readArgs(u: string, other: string): [string, string, string, string, string] {
    return [this.keys.state(u), this.keys.user(u, 'contacts'), this.keys.user(u, 'blocks'), this.keys.user(u, 'blockedby'), other];
  }

  async apply(userId: string, command: PresenceCommand, gate?: () => Promise<void>): Promise<TransitionResult> {
    return guard(async () => {
      const deviceId = deviceIdOf(command);
      const other = relationOtherOf(command);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const now = this.clock.now();
        // Round trip 1: the gate (rate limit) and the read, in one write.
        holdWrites(this.redis);
        const [, reply] = await Promise.all([attempt === 0 && gate ? gate() : undefined, this.redis.presenceRead(...this.readArgs(userId, other ?? ''))]);
        const before = parseState(userId, reply[0]);
        if (!before.inc) before.inc = newIncarnation(now);
        const result = transition(before, command, now, other === null ? null : relationOf(reply));
        if (!result.stateChanged && !result.relationWrite) return result;
        const write = result.relationWrite;
        const device = deviceId === null ? undefined : result.state.devices[deviceId];
        let ttlOp = '';
        if (deviceId !== null) {
          if (!device) ttlOp = 'del';
          else if (device.conns.length === 0 && device.deadline > now) ttlOp = String(device.deadline - now);
          else if (device.conns.length > 0) ttlOp = 'del';
        }
        // Round trip 2: the due entry is written before the state it indexes (issued first,
        // in the same write), then the compare-and-set commit. Concurrent commits of one tick
        // share the write too. A heartbeat only moves the entry later; a closed socket may
        // move it earlier. An entry left by a lost race is harmless.
        const due = deadlineBeforeCommit(command, now);
        holdWrites(this.redis);
        let indexed: Promise<unknown> | null = null;
        if (device && due !== null && device.conns.length === 0) {
          const key = this.keys.due(dueBucketOf(userId, DUE_BUCKETS));
          indexed = due.onlyLater ? this.redis.zadd(key, 'GT', device.deadline, `${userId}|${deviceId}`) : this.redis.zadd(key, device.deadline, `${userId}|${deviceId}`);
        }
        const [, committed] = await Promise.all([
          indexed,
          this.redis.presenceCommit(
            ...this.readArgs(userId, '').slice(0, 4),
            this.keys.user(userId, 'online'),
            this.keys.ttl(userId, deviceId ?? ''),
            reply[1],
            JSON.stringify(result.state),
            this.keys.channel(userId),
            result.message ? JSON.stringify(result.message) : '',
            write?.other ?? '',
            op(write?.contact),
            op(write?.blocks),
            op(write?.blockedBy),
            Object.keys(result.state.devices).length > 0 ? '1' : '0',
            ttlOp,
          ),
        ]);
        if (committed !== 1) {
          if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
          continue;
        }
        if (result.message) this.events.emit('published');
        await this.dropIndexOfRemoved(userId, before, result.removedDevices);
        return result;
      }
      throw new Error(`presence update of ${userId} lost ${MAX_ATTEMPTS} races in a row`);
    });
  }

  /** After a device is gone: its due entry, if it still holds the deadline we removed. */
  private async dropIndexOfRemoved(userId: string, before: UserState, removed: string[]): Promise<void> {
    if (removed.length === 0) return;
    const pipeline = this.redis.pipeline() as ScriptedPipeline;
    for (const id of removed) {
      const device = before.devices[id];
      if (!device) continue;
      pipeline.presenceReschedule(
        this.keys.due(dueBucketOf(userId, DUE_BUCKETS)),
        `${userId}|${id}`,
        String(device.deadline),
        '',
      );
    }
    await pipeline.exec();
  }

  private async readMany(userIds: readonly string[], other: string): Promise<ReadReply[]> {
    if (userIds.length === 0) return [];
    const pipeline = this.redis.pipeline() as ScriptedPipeline;
    for (const id of userIds) pipeline.presenceRead(...this.readArgs(id, other));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      return value as ReadReply;
    });
  }

  async readStates(userIds: readonly string[]): Promise<UserState[]> {
    return guard(async () => (await this.readMany(userIds, '')).map((r, i) => parseState(userIds[i], r[0])));
  }

  async readViews(viewerId: string, userIds: readonly string[]): Promise<ViewSnapshot[]> {
    return guard(async () => {
      const replies = await this.readMany(userIds, viewerId);
      const now = this.clock.now();
      return replies.map((reply, i) => {
        const state = parseState(userIds[i], reply[0]);
        const { cls, view } = viewFor(state, viewerId, relationOf(reply), now);
        return { userId: userIds[i], cls, view, seq: state.seq, inc: state.inc };
      });
    });
  }

  async contactsOf(userId: string): Promise<string[]> {
    return guard(async () => (await this.redis.smembers(this.keys.user(userId, 'contacts'))).sort());
  }

  async blocksOf(userId: string): Promise<string[]> {
    return guard(async () => (await this.redis.smembers(this.keys.user(userId, 'blocks'))).sort());
  }

  /**
   * SCAN over the per-user online markers. The page cursor is SCAN's cursor plus the ids
   * of the last SCAN batch that did not fit the page (ids never contain '|' or ','), so a
   * page never exceeds `first` and no scanned id is dropped.
   */
  async onlineUsers(first: number, after: string | null): Promise<OnlinePage> {
    return guard(async () => {
      const [scanCursor, carried] = after === null ? ['0', ''] : after.split('|');
      let cursor = scanCursor ?? '0';
      const pending = carried ? carried.split(',') : [];
      const pattern = `${this.keys.prefix}:{*}:online`;
      const start = `${this.keys.prefix}:{`;
      // A few SCAN steps per page, so a sparse keyspace still yields ids without a long call.
      let scanning = !(after !== null && cursor === '0'); // '0' after a first page: only carried ids remain
      for (let step = 0; scanning && step < 20 && pending.length < first; step++) {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', Math.max(10, first));
        for (const key of keys) pending.push(key.slice(start.length, key.length - '}:online'.length));
        cursor = next;
        scanning = cursor !== '0';
      }
      const userIds = [...new Set(pending.slice(0, first))];
      const rest = pending.slice(first);
      const done = cursor === '0' && rest.length === 0;
      return { userIds, cursor: done ? null : `${cursor}|${rest.join(',')}` };
    });
  }

  /** One pipeline over every bucket: one round trip per sweep whatever the bucket count. */
  async dueEntries(now: number, limit: number): Promise<DueEntry[]> {
    const pipeline = this.redis.pipeline();
    for (let bucket = 0; bucket < DUE_BUCKETS; bucket++) pipeline.zrangebyscore(this.keys.due(bucket), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit);
    const out: DueEntry[] = [];
    for (const [err, value] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      const flat = value as string[];
      for (let i = 0; i < flat.length; i += 2) out.push({ ...splitMember(flat[i]), deadline: Number(flat[i + 1]) });
    }
    return out;
  }

  async rescheduleDue(entry: DueEntry, deadline: number | null): Promise<void> {
    await this.redis.presenceReschedule(
      this.keys.due(dueBucketOf(entry.userId, DUE_BUCKETS)),
      `${entry.userId}|${entry.deviceId}`,
      String(entry.deadline),
      deadline === null ? '' : String(deadline),
    );
  }

  async nodeDevices(nodeId: string): Promise<Array<{ userId: string; deviceId: string }>> {
    return (await this.redis.smembers(this.keys.nodeDevices(nodeId))).map(splitMember);
  }

  async addNodeDevice(nodeId: string, userId: string, deviceId: string): Promise<void> {
    await guard(() => this.redis.sadd(this.keys.nodeDevices(nodeId), `${userId}|${deviceId}`));
  }

  async removeNodeDevice(nodeId: string, userId: string, deviceId: string): Promise<void> {
    await guard(() => this.redis.srem(this.keys.nodeDevices(nodeId), `${userId}|${deviceId}`));
  }

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    // The backend owns and closes the connection.
  }
}
