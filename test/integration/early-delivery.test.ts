/**
 * What a node commits reaches that node's own subscribers without the trip through Redis
 * pub/sub, exactly once, and never ahead of another node's message still on its way. Two
 * nodes run in this process on one private Redis; pausing node A's pub/sub connection holds
 * back everything that comes to A through Redis.
 */
import { randomUUID } from 'node:crypto';
import { EventLike, gql, sleep, subscribe, Subscription, userClient, wsClient, WsHandle } from '../helpers/client';
import { startRedis, TestRedis } from '../helpers/redis';
import { startServer, TestServer } from '../helpers/server';

jest.setTimeout(30_000);

describe('early local delivery on Redis', () => {
  let redis: TestRedis;
  let a: TestServer;
  let b: TestServer;
  const handles: WsHandle[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, PRESENCE_REDIS_PREFIX: `early${randomUUID().slice(0, 8)}` };
    a = await startServer(env);
    b = await startServer(env);
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.dispose()));
    await a.stop();
    await b.stop();
    await redis.stop();
  });

  /** An online user, and a subscription on node A of `viewer` to it (INITIAL received). */
  const watchOnA = async (user: string, viewer: string): Promise<Subscription> => {
    const linked = await userClient(a.url, 'admin', true)(`mutation($u: ID!, $c: [ID!]!) { addContacts(userId: $u, contactIds: $c) }`, { u: user, c: [viewer] });
    expect(linked.errors).toBeUndefined();
    await gql(a.url, `mutation { heartbeat(device: {id: "d"}) { ttlSeconds } }`, {}, { user });
    const handle = await wsClient(a.wsUrl, viewer);
    handles.push(handle);
    const sub = subscribe(handle, { userIds: [user], initial: true });
    await sub.waitForCount(1);
    return sub;
  };
  const setStatus = async (server: TestServer, user: string, customStatus: string): Promise<void> => {
    const res = await gql(server.url, `mutation($s: String) { setStatus(input: {customStatus: $s}) { status } }`, { s: customStatus }, { user });
    expect(res.errors).toBeUndefined();
  };
  const summary = (events: EventLike[]) => events.map((e) => `${e.reason}:${e.presence.customStatus ?? ''}`);
  /** Until node A has read everything Redis published so far (a PING answered on its subscriber connection). */
  const drainedOnA = async (): Promise<void> => {
    await (a.app.redis?.subscriber.ping() ?? Promise.resolve());
  };

  it("delivers a change committed on this node while this node's pub/sub is held up, and only once", async () => {
    const user = `early-${randomUUID().slice(0, 6)}`;
    const sub = await watchOnA(user, `v-${user}`);
    const subscriber = a.app.redis?.subscriber;
    if (!subscriber) throw new Error('node A has no Redis backend');
    subscriber.stream.pause();
    try {
      await setStatus(a, user, 'local');
      await sub.waitForCount(2);
    } finally {
      subscriber.stream.resume();
    }
    await drainedOnA();
    await sleep(100);
    expect(summary(sub.events)).toEqual(['INITIAL:', 'PROFILE_CHANGED:local']);
  });

  it("holds a local change back until another node's earlier change has arrived", async () => {
    const user = `order-${randomUUID().slice(0, 6)}`;
    const sub = await watchOnA(user, `v-${user}`);
    const subscriber = a.app.redis?.subscriber;
    if (!subscriber) throw new Error('node A has no Redis backend');
    subscriber.stream.pause();
    try {
      await setStatus(b, user, 'first, from B');
      await setStatus(a, user, 'second, from A');
      await sleep(200);
      // B's change is still in A's pub/sub connection: A's own change must not go first.
      expect(summary(sub.events)).toEqual(['INITIAL:']);
    } finally {
      subscriber.stream.resume();
    }
    await sub.waitForCount(3);
    await drainedOnA();
    await sleep(100);
    expect(summary(sub.events)).toEqual(['INITIAL:', 'PROFILE_CHANGED:first, from B', 'PROFILE_CHANGED:second, from A']);
  });
});
