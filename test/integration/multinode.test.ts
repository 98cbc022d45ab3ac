/**
 * Several server processes on one private Redis: cross-node delivery exactly once,
 * a SIGKILLed node's devices expiring once, expiry without keyspace notifications, a
 * pub/sub connection killed mid-burst, a node paused past its lease, and no leak of
 * channel subscriptions.
 */
import { BACKENDS } from '../helpers/backends';
import { EventLike, gql, sleep, subscribe, Subscription, userClient, wsClient, WsHandle } from '../helpers/client';
import { startRedis, TestRedis } from '../helpers/redis';
import { NodeProcess, spawnNode, startServer } from '../helpers/server';

jest.setTimeout(90_000);
void BACKENDS;

const ENV = { PRESENCE_TTL_SECONDS: '2', PRESENCE_DISCONNECT_GRACE_SECONDS: '1' };

describe('many nodes on one Redis', () => {
  let redis: TestRedis;
  let nodes: NodeProcess[] = [];
  const handles: WsHandle[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1, 2].map(() => spawnNode({ ...ENV, REDIS_URL: redis.url })));
  });
  const extraNodes: NodeProcess[] = [];
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.dispose()));
    for (const n of extraNodes) n.proc.kill('SIGCONT');
    await Promise.all([...nodes.map((n) => n.stop()), ...extraNodes.map((n) => n.kill('SIGKILL'))]);
    await redis.stop();
  });

  const link = async (a: string, ...others: string[]) => {
    const res = await userClient(nodes[0].url, 'admin', true)(`mutation($u: ID!, $c: [ID!]!) { addContacts(userId: $u, contactIds: $c) }`, { u: a, c: others });
    expect(res.errors).toBeUndefined();
  };
  const watch = async (node: NodeProcess, viewer: string, userIds: string[]): Promise<Subscription> => {
    const h = await wsClient(node.wsUrl, viewer);
    handles.push(h);
    const sub = subscribe(h, { userIds, initial: true });
    await sub.waitForCount(userIds.length);
    await sleep(100);
    return sub;
  };
  const count = (events: EventLike[], reason: string) => events.filter((e) => e.reason === reason).length;

  it('a change on node B reaches subscribers on nodes A and C exactly once', async () => {
    const user = `x-${Date.now()}`;
    await link(user, 'va', 'vc');
    const a = await watch(nodes[0], 'va', [user]);
    const c = await watch(nodes[2], 'vc', [user]);
    await gql(nodes[1].url, `mutation { heartbeat(device: {id: "d"}) { ttlSeconds } }`, {}, { user });
    await gql(nodes[1].url, `mutation { setStatus(input: {customStatus: "from B"}) { status } }`, {}, { user });
    await a.waitForCount(3);
    await c.waitForCount(3);
    await sleep(500);
    for (const sub of [a, c]) {
      expect(sub.events.map((e) => e.reason)).toEqual(['INITIAL', 'CONNECTED', 'PROFILE_CHANGED']);
    }
  });

  it('expires a device exactly once with keyspace notifications switched off', async () => {
    const admin = redis.client();
    await admin.config('SET', 'notify-keyspace-events', '');
    const user = `ks-${Date.now()}`;
    await link(user, 'ks-viewer');
    const sub = await watch(nodes[0], 'ks-viewer', [user]);
    await gql(nodes[1].url, `mutation { heartbeat { ttlSeconds } }`, {}, { user });
    await sub.waitFor((e) => count(e, 'EXPIRED') === 1, 8000);
    await sleep(800);
    expect(sub.events.map((e) => e.reason)).toEqual(['INITIAL', 'CONNECTED', 'EXPIRED']);
    await admin.config('SET', 'notify-keyspace-events', 'Ex');
  });

  it("expires a SIGKILLed node's socket devices exactly once, with EXPIRED", async () => {
    const victim = await spawnNode({ ...ENV, REDIS_URL: redis.url });
    extraNodes.push(victim);
    const user = `kill-${Date.now()}`;
    await link(user, 'kill-viewer');
    const sub = await watch(nodes[0], 'kill-viewer', [user]);
    const device = await wsClient(victim.wsUrl, user, { device: { id: 'phone', type: 'MOBILE' } }, { retryAttempts: 0 });
    handles.push(device);
    await sub.waitFor((e) => count(e, 'CONNECTED') === 1);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    await sub.waitFor((e) => count(e, 'EXPIRED') === 1, 15_000);
    const tookMs = Date.now() - killedAt;
    await sleep(1000);
    expect(sub.events.map((e) => e.reason)).toEqual(['INITIAL', 'CONNECTED', 'EXPIRED']);
    expect(tookMs).toBeLessThan((1 + 10) * 1000); // grace + 10 s, the contract's bound
  });

  it('repairs a view after the pub/sub connections are killed during a burst', async () => {
    const user = `burst-${Date.now()}`;
    await link(user, 'burst-viewer');
    await gql(nodes[1].url, `mutation { heartbeat { ttlSeconds } }`, {}, { user });
    const sub = await watch(nodes[0], 'burst-viewer', [user]);
    const admin = redis.client();
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      writes.push(gql(nodes[1].url, `mutation($s: String) { setStatus(input: {customStatus: $s}) { status } }`, { s: `n${i}` }, { user }));
      if (i === 20) await admin.client('KILL', 'TYPE', 'pubsub');
      await sleep(5);
    }
    await Promise.all(writes);
    const final = await gql<{ presence: { customStatus: string; version: number } }>(nodes[0].url, `query($u: ID!) { presence(userId: $u) { customStatus version } }`, { u: user }, { user: 'burst-viewer' });
    await sub.waitFor((e) => e[e.length - 1]?.presence.customStatus === final.data!.presence.customStatus, 10_000);
    const versions = sub.events.map((e) => e.presence.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]);
    expect(sub.events[sub.events.length - 1].presence.version).toBe(final.data!.presence.version);
  });

  it('SIGTERM drains a node: its socket devices take the grace path and end DISCONNECTED', async () => {
    const leaving = await spawnNode({ ...ENV, REDIS_URL: redis.url });
    extraNodes.push(leaving);
    const user = `term-${Date.now()}`;
    await link(user, 'term-viewer');
    const sub = await watch(nodes[0], 'term-viewer', [user]);
    const device = await wsClient(leaving.wsUrl, user, { device: { id: 'tab', type: 'WEB' } }, { retryAttempts: 0 });
    handles.push(device);
    await sub.waitFor((e) => count(e, 'CONNECTED') === 1);
    await leaving.stop();
    expect(leaving.proc.exitCode).toBe(0);
    await sub.waitFor((e) => count(e, 'DISCONNECTED') === 1, 5000);
    await sleep(500);
    expect(sub.events.map((e) => e.reason)).toEqual(['INITIAL', 'CONNECTED', 'DISCONNECTED']);
  });

  it('a node paused past its lease re-asserts its sockets when it resumes', async () => {
    const paused = await spawnNode({ ...ENV, REDIS_URL: redis.url });
    extraNodes.push(paused);
    const user = `pause-${Date.now()}`;
    await link(user, 'pause-viewer');
    const sub = await watch(nodes[0], 'pause-viewer', [user]);
    const device = await wsClient(paused.wsUrl, user, { device: { id: 'desk', type: 'DESKTOP' } }, { retryAttempts: 0 });
    handles.push(device);
    await sub.waitFor((e) => count(e, 'CONNECTED') === 1);
    paused.proc.kill('SIGSTOP');
    await sub.waitFor((e) => count(e, 'EXPIRED') === 1, 15_000);
    paused.proc.kill('SIGCONT');
    await sub.waitFor((e) => count(e, 'CONNECTED') === 2, 10_000);
    const truth = await gql<{ presence: { status: string; devices: Array<{ id: string }> } }>(nodes[0].url, `query($u: ID!) { presence(userId: $u) { status devices { id } } }`, { u: user }, { user: 'pause-viewer' });
    expect(truth.data?.presence).toEqual({ status: 'ONLINE', devices: [{ id: 'desk' }] });
    await device.dispose();
    await paused.stop();
  });
});

describe('subscription bookkeeping on Redis', () => {
  it('returns to the baseline of channels and listeners after 1,000 subscriptions open and close', async () => {
    const redis = await startRedis();
    const server = await startServer({ REDIS_URL: redis.url });
    try {
      const pubsub = server.app.redis!.pubsub;
      const baseline = { channels: pubsub.channelCount(), server: await pubsub.serverChannelCount(), followers: server.app.fanout.followerCount() };
      const h = await wsClient(server.wsUrl, 'leaky');
      const users = Array.from({ length: 20 }, (_, i) => `leak-target-${i}`);
      for (let round = 0; round < 20; round++) {
        const subs = Array.from({ length: 50 }, (_, i) => subscribe(h, { userIds: [users[i % 20], `other-${round}-${i}`], initial: true }));
        await sleep(150);
        subs.forEach((s) => s.stop());
        await sleep(50);
      }
      await h.dispose();
      await sleep(500);
      expect(pubsub.channelCount()).toBe(baseline.channels);
      expect(await pubsub.serverChannelCount()).toBe(baseline.server);
      expect(server.app.fanout.followerCount()).toBe(baseline.followers);
      expect(server.app.fanout.feedCount()).toBe(0);
    } finally {
      await server.stop();
      await redis.stop();
    }
  });
});
