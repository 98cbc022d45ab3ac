/**
 * PRESENCE.md's events over graphql-ws, on both backends: reasons, per-viewer shaping,
 * versions, the initial snapshot, relation changes on open subscriptions, socket devices
 * and their grace period, expiry, and the socket limits.
 */
import WebSocket from 'ws';
import { BACKENDS, uid, useBackend } from '../helpers/backends';
import { EventLike, Subscription, gql, sleep, subscribe, token, userClient, wsClient, WsHandle } from '../helpers/client';
import { TestServer } from '../helpers/server';

const quiet = (ms = 400) => sleep(ms);

describe.each(BACKENDS)('subscriptions on %s', (backend) => {
  const env = useBackend(backend);
  let server: TestServer;
  const handles: WsHandle[] = [];
  const open = async (user: string | null, params: Record<string, unknown> = {}) => {
    const h = await wsClient(server.wsUrl, user, params);
    handles.push(h);
    return h;
  };
  const admin = () => userClient(server.url, 'admin-bot', true);
  const link = async (a: string, ...others: string[]) => {
    const res = await admin()(`mutation($u: ID!, $c: [ID!]!) { addContacts(userId: $u, contactIds: $c) }`, { u: a, c: others });
    expect(res.errors).toBeUndefined();
  };
  const unlink = async (a: string, ...others: string[]) => {
    await admin()(`mutation($u: ID!, $c: [ID!]!) { removeContacts(userId: $u, contactIds: $c) }`, { u: a, c: others });
  };
  const heartbeat = (user: string, device: Record<string, unknown> = { id: 'd1' }) =>
    gql(server.url, `mutation($d: DeviceInput) { heartbeat(device: $d) { ttlSeconds } }`, { d: device }, { user });
  const setStatus = (user: string, input: Record<string, unknown>) => gql(server.url, `mutation($i: SetStatusInput!) { setStatus(input: $i) { status } }`, { i: input }, { user });
  const goOffline = (user: string, deviceId?: string) => gql(server.url, `mutation($d: ID) { goOffline(deviceId: $d) { status } }`, { d: deviceId ?? null }, { user });
  const block = (user: string, other: string) => gql(server.url, `mutation($u: ID!) { blockUser(userId: $u) }`, { u: other }, { user });
  const unblock = (user: string, other: string) => gql(server.url, `mutation($u: ID!) { unblockUser(userId: $u) }`, { u: other }, { user });
  const reasons = (events: EventLike[], userId?: string) => events.filter((e) => !userId || e.presence.userId === userId).map((e) => e.reason);

  /** A subscription that is live: with initial, it waits for the snapshot of `expectInitial` users. */
  const watch = async (viewer: string, userIds: string[] | null, expectInitial: number): Promise<Subscription> => {
    const h = await open(viewer);
    const sub = subscribe(h, { userIds, initial: true });
    await sub.waitForCount(expectInitial);
    await quiet(100);
    return sub;
  };

  beforeAll(async () => {
    server = await env.start({ PRESENCE_TTL_SECONDS: '2', PRESENCE_DISCONNECT_GRACE_SECONDS: '1' });
  });
  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
  });

  it('sends CONNECTED, STATUS_CHANGED, PROFILE_CHANGED, DEVICES_CHANGED, DISCONNECTED with increasing versions', async () => {
    const user = uid('u');
    const viewer = uid('v');
    await link(user, viewer);
    const sub = await watch(viewer, [user], 1);
    expect(sub.events[0]).toEqual(expect.objectContaining({ reason: 'INITIAL', previousStatus: 'OFFLINE' }));
    await heartbeat(user);
    await setStatus(user, { status: 'BUSY' });
    await setStatus(user, { customStatus: 'deep work' });
    await heartbeat(user, { id: 'd2', type: 'MOBILE' });
    await heartbeat(user); // only extends a TTL: nothing
    await goOffline(user);
    const events = await sub.waitForCount(6);
    await quiet();
    expect(reasons(sub.events)).toEqual(['INITIAL', 'CONNECTED', 'STATUS_CHANGED', 'PROFILE_CHANGED', 'DEVICES_CHANGED', 'DISCONNECTED']);
    expect(events.map((e) => e.previousStatus)).toEqual(['OFFLINE', 'OFFLINE', 'ONLINE', 'BUSY', 'BUSY', 'BUSY']);
    const versions = events.map((e) => e.presence.version);
    for (let i = 2; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]);
    expect(events[3].presence.customStatus).toBe('deep work');
    expect(events[5].presence).toEqual(expect.objectContaining({ status: 'OFFLINE', customStatus: null, devices: [] }));
  });

  it('expires a silent device with EXPIRED after its TTL', async () => {
    const user = uid('exp');
    const viewer = uid('exp-v');
    await link(user, viewer);
    const sub = await watch(viewer, [user], 1);
    await heartbeat(user);
    await sub.waitFor((e) => reasons(e).includes('EXPIRED'), 6000);
    expect(reasons(sub.events)).toEqual(['INITIAL', 'CONNECTED', 'EXPIRED']);
  });

  it('sends nothing to a stranger and ignores ids that are not contacts', async () => {
    const user = uid('s');
    const stranger = uid('stranger');
    const sub = await watch(stranger, [user, stranger], 1); // only self gets an INITIAL
    expect(sub.events.map((e) => e.presence.userId)).toEqual([stranger]);
    await heartbeat(user);
    await setStatus(user, { customStatus: 'x' });
    await quiet();
    expect(sub.events).toHaveLength(1);
  });

  it('initial: true with userIds omitted sends every contact, offline ones included, then changes', async () => {
    const viewer = uid('all');
    const [a, b] = [uid('a'), uid('b')];
    await link(viewer, a, b);
    await heartbeat(a);
    const sub = await watch(viewer, null, 2);
    const initial = sub.events.slice(0, 2).map((e) => [e.presence.userId, e.reason, e.presence.status]);
    expect(initial.sort()).toEqual([
      [a, 'INITIAL', 'ONLINE'],
      [b, 'INITIAL', 'OFFLINE'],
    ].sort());
    await heartbeat(b);
    await sub.waitFor((e) => e.some((x) => x.presence.userId === b && x.reason === 'CONNECTED'));
  });

  it('invisibility reaches contacts as DISCONNECTED and visibility as CONNECTED; self sees INVISIBLE', async () => {
    const user = uid('inv');
    const viewer = uid('inv-v');
    await link(user, viewer);
    await heartbeat(user);
    const sub = await watch(viewer, [user], 1);
    const self = await watch(user, [user], 1);
    await setStatus(user, { status: 'INVISIBLE' });
    await setStatus(user, { customStatus: 'hidden change' });
    await setStatus(user, { status: 'ONLINE' });
    await sub.waitForCount(3);
    await self.waitForCount(4);
    await quiet();
    expect(reasons(sub.events)).toEqual(['INITIAL', 'DISCONNECTED', 'CONNECTED']);
    expect(sub.events[2].presence.customStatus).toBe('hidden change');
    expect(self.events.map((e) => [e.reason, e.presence.status])).toEqual([
      ['INITIAL', 'ONLINE'],
      ['STATUS_CHANGED', 'INVISIBLE'],
      ['PROFILE_CHANGED', 'INVISIBLE'],
      ['STATUS_CHANGED', 'ONLINE'],
    ]);
  });

  it('a frozen view does not move: an invisible user who disconnects sends nothing', async () => {
    const user = uid('frz');
    const viewer = uid('frz-v');
    await link(user, viewer);
    await heartbeat(user);
    const sub = await watch(viewer, [user], 1);
    await setStatus(user, { status: 'INVISIBLE' });
    await sub.waitForCount(2);
    await goOffline(user);
    await setStatus(user, { status: 'ONLINE' }); // leaves invisibility while offline: still nothing
    await quiet();
    expect(reasons(sub.events)).toEqual(['INITIAL', 'DISCONNECTED']);
    await heartbeat(user);
    await sub.waitForCount(3);
    expect(sub.events[2].reason).toBe('CONNECTED');
    expect(sub.events[2].presence.version).toBeGreaterThan(sub.events[1].presence.version);
  });

  it('blocking reaches the blocked viewer as DISCONNECTED and the blocker as CONTACT_REMOVED; unblocking reverses both', async () => {
    const blocker = uid('blk');
    const blocked = uid('blkd');
    await link(blocker, blocked);
    await heartbeat(blocker);
    await heartbeat(blocked);
    const blockedSub = await watch(blocked, null, 1);
    const blockerSub = await watch(blocker, null, 1);
    await block(blocker, blocked);
    await blockedSub.waitForCount(2);
    await blockerSub.waitForCount(2);
    expect(blockedSub.events[1]).toEqual(expect.objectContaining({ reason: 'DISCONNECTED', previousStatus: 'ONLINE' }));
    expect(blockerSub.events[1]).toEqual(expect.objectContaining({ reason: 'CONTACT_REMOVED', previousStatus: 'ONLINE' }));
    expect(blockerSub.events[1].presence).toEqual(expect.objectContaining({ status: 'OFFLINE', version: 0, lastSeenAt: null }));
    await setStatus(blocker, { customStatus: 'invisible to the blocked' });
    await setStatus(blocked, { customStatus: 'invisible to the blocker' });
    await quiet();
    expect(blockedSub.events).toHaveLength(2);
    expect(blockerSub.events).toHaveLength(2);
    await unblock(blocker, blocked);
    await blockedSub.waitForCount(3);
    await blockerSub.waitForCount(3);
    expect(blockedSub.events[2].reason).toBe('CONNECTED');
    expect(blockedSub.events[2].presence.version).toBeGreaterThan(blockedSub.events[1].presence.version);
    expect(blockerSub.events[2]).toEqual(expect.objectContaining({ reason: 'CONTACT_ADDED', previousStatus: 'OFFLINE' }));
    expect(blockerSub.events[2].presence.customStatus).toBe('invisible to the blocker');
  });

  it('contacts added and removed take effect on open subscriptions', async () => {
    const viewer = uid('cv');
    const byId = uid('by-id');
    const byAll = uid('by-all');
    await heartbeat(byId);
    const self = viewer;
    const subIds = await watch(viewer, [byId, self], 1); // self only: byId is a stranger yet
    const subAll = await watch(viewer, null, 0);
    await link(viewer, byId);
    await subIds.waitFor((e) => reasons(e, byId).includes('CONTACT_ADDED'));
    await subAll.waitFor((e) => reasons(e, byId).includes('CONTACT_ADDED'));
    expect(subIds.events.find((e) => e.reason === 'CONTACT_ADDED')?.presence.status).toBe('ONLINE');
    await link(viewer, byAll); // offline: CONTACT_ADDED is still sent
    await subAll.waitFor((e) => reasons(e, byAll).includes('CONTACT_ADDED'));
    await setStatus(byId, { customStatus: 'now visible' });
    await subAll.waitFor((e) => reasons(e, byId).includes('PROFILE_CHANGED'));
    await unlink(viewer, byId);
    await subAll.waitFor((e) => reasons(e, byId).includes('CONTACT_REMOVED'));
    await subIds.waitFor((e) => reasons(e, byId).includes('CONTACT_REMOVED'));
    const removed = subAll.events.find((e) => e.reason === 'CONTACT_REMOVED')!;
    expect(removed.presence).toEqual(expect.objectContaining({ status: 'OFFLINE', version: 0 }));
    expect(removed.previousStatus).toBe('ONLINE');
    const count = subAll.events.length;
    await setStatus(byId, { customStatus: 'not for you' });
    await quiet();
    expect(subAll.events).toHaveLength(count);
  });

  it('a socket with connectionParams.device is a live device; reconnecting within the grace sends nothing', async () => {
    const user = uid('sock');
    const viewer = uid('sock-v');
    await link(user, viewer);
    const sub = await watch(viewer, [user], 1);
    const first = await open(user, { device: { id: 'tab-1', type: 'WEB' } });
    await first.client.subscribe({ query: '{ me { status } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    await sub.waitFor((e) => reasons(e).includes('CONNECTED'));
    expect(sub.events[1].presence.devices).toEqual([{ id: 'tab-1', status: 'ONLINE' }]);
    // A page reload: close and come back before the grace period ends.
    await first.dispose();
    const second = await open(user, { device: { id: 'tab-1', type: 'WEB' } });
    await second.client.subscribe({ query: '{ me { status } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    await quiet(1600);
    expect(reasons(sub.events)).toEqual(['INITIAL', 'CONNECTED']);
    await second.dispose();
    await sub.waitFor((e) => reasons(e).includes('DISCONNECTED'), 5000);
    expect(reasons(sub.events)).toEqual(['INITIAL', 'CONNECTED', 'DISCONNECTED']);
  });

  it('closes a socket with a bad or missing token with 4403', async () => {
    for (const params of [{}, { authorization: 'Bearer nope' }]) {
      const h = await wsClient(server.wsUrl, null, params);
      handles.push(h);
      h.client.subscribe({ query: '{ me { status } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      expect((await h.closed).code).toBe(4403);
    }
  });

  it('runs queries and mutations over the socket too, with the same limits', async () => {
    const user = uid('wsq');
    const h = await open(user);
    const result = await new Promise<unknown>((resolve) => {
      h.client.subscribe({ query: 'mutation { setStatus(input: { customStatus: "via ws" }) { customStatus } }' }, { next: resolve, error: resolve, complete: () => undefined });
    });
    expect(result).toEqual({ data: { setStatus: { customStatus: 'via ws' } } });
    const aliases = `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: me { status }`).join(' ')} }`;
    const refused = await new Promise<unknown>((resolve) => {
      h.client.subscribe({ query: aliases }, { next: resolve, error: resolve, complete: () => undefined });
    });
    expect(JSON.stringify(refused)).toContain('GRAPHQL_VALIDATION_FAILED');
    const bad = await new Promise<unknown>((resolve) => {
      h.client.subscribe({ query: 'mutation { setStatus(input: { customStatus: "' + 'x'.repeat(200) + '" }) { customStatus } }' }, { next: resolve, error: resolve, complete: () => undefined });
    });
    expect(JSON.stringify(bad)).toContain('BAD_USER_INPUT');
    // A document sent again and again runs compiled after its first runs (src/graphql/compiled.ts):
    // the answers, errors included, stay the same.
    const run = (variables: Record<string, unknown>) =>
      new Promise<unknown>((resolve) => {
        h.client.subscribe(
          { query: 'mutation Set($s: String!) { setStatus(input: { customStatus: $s }) { customStatus } }', variables },
          { next: resolve, error: resolve, complete: () => undefined },
        );
      });
    for (let i = 0; i < 4; i++) {
      expect(await run({ s: `again ${i}` })).toEqual({ data: { setStatus: { customStatus: `again ${i}` } } });
      const tooLong = (await run({ s: 'x'.repeat(200) })) as { errors?: Array<{ extensions?: { code?: string } }> };
      expect(tooLong.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const missing = (await run({})) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
      expect(missing.errors?.[0]?.message).toBe('Variable "$s" of required type "String!" was not provided.');
      expect(missing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    // Variables that do not fit a subscription are the client's input too, not an internal error.
    const badSubscription = await new Promise<unknown>((resolve) => {
      h.client.subscribe(
        { query: 'subscription W($ids: [ID!]) { presenceChanged(userIds: $ids) { reason } }', variables: { ids: [{ not: 'an id' }] } },
        { next: resolve, error: resolve, complete: () => undefined },
      );
    });
    expect(JSON.stringify(badSubscription)).toContain('BAD_USER_INPUT');
  });

  it('allows 50 subscriptions per socket and refuses the 51st without closing the socket, which still answers a mutation', async () => {
    const user = uid('many');
    const h = await open(user);
    const subs = Array.from({ length: 50 }, () => subscribe(h, { userIds: [user], initial: true }));
    await Promise.all(subs.map((s) => s.waitForCount(1)));
    const extra = subscribe(h, { userIds: [user], initial: true });
    await extra.done;
    expect(JSON.stringify(extra.errors)).toContain('50 subscriptions');
    // The limit is on subscriptions: the same socket still runs a mutation.
    const answer = await new Promise<unknown>((resolve) => {
      let result: unknown;
      h.client.subscribe(
        { query: 'mutation($s: String) { setStatus(input: { customStatus: $s }) { customStatus } }', variables: { s: 'from the full socket' } },
        { next: (value) => (result = value), error: resolve, complete: () => resolve(result) },
      );
    });
    expect(answer).toEqual({ data: { setStatus: { customStatus: 'from the full socket' } } });
    await subs[0].waitForCount(2);
    await setStatus(user, { customStatus: 'still here' });
    await subs[0].waitForCount(3);
  });

  it('reports connections, subscriptions and delivered events on /metrics, and health on /healthz and /readyz', async () => {
    const user = uid('metrics');
    await watch(user, [user], 1);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/presence_ws_connections [1-9]/);
    expect(text).toMatch(/presence_subscriptions [1-9]/);
    expect(text).toMatch(/presence_events_delivered_total [1-9]/);
    expect(text).toContain('presence_expiry_lateness_seconds_bucket');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('closes the socket with 1009 when a message exceeds 64 KiB', async () => {
    const ws = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${await token('big')}` } }));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `{ me { status } } #${'x'.repeat(70 * 1024)}` } }));
    expect(await closed).toBe(1009);
  });

  it('answers a burst of mutations sent in one write, holding the socket back while 4 run (counted on /metrics)', async () => {
    const user = uid('burst');
    const ws = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    await new Promise((r) => ws.once('open', r));
    const replies: Array<{ id?: string; type: string; payload?: { data?: { setStatus: { customStatus: string } }; errors?: unknown } }> = [];
    const acked = new Promise((r) => ws.on('message', (data) => (replies.push(JSON.parse(String(data))), replies.at(-1)?.type === 'connection_ack' && r(null))));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${await token(user)}` } }));
    await acked;
    const burst = 20;
    const wire = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    wire.cork();
    for (let i = 0; i < burst; i++) {
      const query = `mutation($s: String) { setStatus(input: { customStatus: $s }) { customStatus } }`;
      ws.send(JSON.stringify({ id: `m${i}`, type: 'subscribe', payload: { query, variables: { s: `s${i}` } } }));
    }
    wire.uncork();
    for (let i = 0; i < 200 && replies.filter((m) => m.type === 'complete').length < burst; i++) await sleep(20);
    const answers = replies.filter((m) => m.type === 'next');
    expect(answers).toHaveLength(burst);
    for (const answer of answers) expect(answer.payload?.data?.setStatus.customStatus).toBe(`s${answer.id?.slice(1)}`);
    ws.close();
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/presence_ws_reads_paused_total [1-9]/);
  });

  it('closes a socket that never sends connection_init with 4408 after about 3 s', async () => {
    const ws = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const opened = Date.now();
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    expect(await closed).toBe(4408);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(2_500);
  });
});

describe('keep-alive', () => {
  const env = useBackend('memory');
  it('drops a peer that stops answering pings, and its device goes offline after the grace period', async () => {
    const server = await env.start({ PRESENCE_DISCONNECT_GRACE_SECONDS: '1' }, { keepAliveMs: 200 });
    const user = uid('dead');
    const ws = new WebSocket(server.wsUrl, 'graphql-transport-ws', { autoPong: false });
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${await token(user)}`, device: { id: 'zombie' } } }));
    const me = () => gql<{ me: { status: string } }>(server.url, '{ me { status } }', {}, { user });
    for (let i = 0; i < 50 && (await me()).data?.me.status !== 'ONLINE'; i++) await sleep(20);
    expect((await me()).data?.me.status).toBe('ONLINE');
    await closed; // terminated by the server after an unanswered ping
    for (let i = 0; i < 150 && (await me()).data?.me.status !== 'OFFLINE'; i++) await sleep(20);
    expect((await me()).data?.me.status).toBe('OFFLINE');
  });
});

describe('Origin allowlist', () => {
  const env = useBackend('memory');
  it('refuses an upgrade from an Origin not on PRESENCE_ALLOWED_ORIGINS with 403 and accepts one on it or none', async () => {
    const server = await env.start({ PRESENCE_ALLOWED_ORIGINS: 'https://app.example.com' });
    const tryOrigin = (origin?: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(server.wsUrl, 'graphql-transport-ws', origin ? { origin } : {});
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('unexpected-response', (_req, res) => {
          resolve(String(res.statusCode));
          ws.terminate();
        });
        ws.once('error', () => resolve('error'));
      });
    expect(await tryOrigin('https://evil.example.com')).toBe('403');
    expect(await tryOrigin('https://app.example.com')).toBe('open');
    expect(await tryOrigin()).toBe('open');
  });
});
