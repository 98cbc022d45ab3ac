/**
 * Property: the same random command sequence through the memory store and the Redis
 * store leaves the same state and the same views for every viewer, and publishes the
 * same messages. Both run `transition`; this guards everything around it (serialization,
 * relation sets, compare-and-set, index writes).
 */
import Redis from 'ioredis';
import { Clock } from '../../src/clock';
import { UserState } from '../../src/presence/presence.model';
import { PresenceStore } from '../../src/presence/presence.store';
import { MemoryPresenceStore } from '../../src/presence/store/memory';
import { RedisPresenceStore } from '../../src/presence/store/redis';
import { PresenceCommand } from '../../src/presence/presence.transition';
import { MemoryPubSub } from '../../src/realtime/pubsub';
import { startRedis, TestRedis } from '../helpers/redis';

const USERS = ['ann', 'bob', 'cat', 'dan'];
const DEVICES = ['web', 'phone', 'desk'];

/** A small deterministic PRNG so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomCommand(rand: () => number, user: string): Array<[string, PresenceCommand]> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const other = pick(USERS.filter((u) => u !== user));
  const device = { id: pick(DEVICES), type: 'WEB' as const, idle: rand() < 0.3 };
  switch (Math.floor(rand() * 9)) {
    case 0:
    case 1:
      return [[user, { kind: 'heartbeat', device, ttlMs: 5000, maxDevices: 2 }]];
    case 2:
      return [[user, { kind: 'connect', device, token: `n#1#${device.id}`, maxDevices: 2 }]];
    case 3:
      return [[user, { kind: 'disconnect', deviceId: device.id, token: `n#1#${device.id}`, graceMs: 1000 }]];
    case 4:
      return [[user, { kind: 'expire', deviceId: device.id }]];
    case 5:
      return [[user, { kind: 'goOffline', deviceId: rand() < 0.5 ? null : device.id }]];
    case 6:
      return [[user, { kind: 'setStatus', change: { status: pick(['ONLINE', 'AWAY', 'BUSY', 'INVISIBLE'] as const), customStatus: rand() < 0.5 ? `s${Math.floor(rand() * 3)}` : undefined } }]];
    case 7: {
      const contact = rand() < 0.7;
      return [
        [user, { kind: 'setContact', other, contact }],
        [other, { kind: 'setContact', other: user, contact }],
      ];
    }
    default: {
      const blocks = rand() < 0.6;
      return [
        [user, { kind: 'setBlocks', other, blocks }],
        [other, { kind: 'setBlockedBy', other: user, blockedBy: blocks }],
      ];
    }
  }
}

const comparable = (s: UserState) => ({ ...s, inc: s.inc ? 'set' : '' });

describe('memory and Redis stores agree', () => {
  let redis: TestRedis;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = redis.client();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it.each([1, 2, 3])('on a random sequence (seed %i)', async (seed) => {
    let now = Date.UTC(2026, 10, 23, 12);
    const clock: Clock = { now: () => now };
    const memoryPubSub = new MemoryPubSub();
    const memory: PresenceStore = new MemoryPresenceStore(memoryPubSub, clock);
    const onRedis: PresenceStore = new RedisPresenceStore(client, `prop${seed}x${Date.now()}`, clock);
    const rand = prng(seed);
    let published = 0;
    for (let step = 0; step < 150; step++) {
      now += Math.floor(rand() * 1500);
      for (const [user, command] of randomCommand(rand, USERS[Math.floor(rand() * USERS.length)])) {
        const [a, b] = [await memory.apply(user, command), await onRedis.apply(user, command)];
        if (a.message) published++;
        expect({ step, message: b.message ? { ...b.message, inc: 'x' } : null }).toEqual({ step, message: a.message ? { ...a.message, inc: 'x' } : null });
      }
    }
    expect(published).toBeGreaterThan(30); // the sequence really moved presence around
    const [ms, rs] = [await memory.readStates(USERS), await onRedis.readStates(USERS)];
    expect(rs.map(comparable)).toEqual(ms.map(comparable));
    for (const viewer of USERS) {
      const [mv, rv] = [await memory.readViews(viewer, USERS), await onRedis.readViews(viewer, USERS)];
      expect(rv.map((v) => [v.cls, v.view, v.seq])).toEqual(mv.map((v) => [v.cls, v.view, v.seq]));
      expect(await onRedis.contactsOf(viewer)).toEqual(await memory.contactsOf(viewer));
      expect(await onRedis.blocksOf(viewer)).toEqual(await memory.blocksOf(viewer));
    }
  });
});
