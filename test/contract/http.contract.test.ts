/**
 * PRESENCE.md over HTTP, on both backends: who is asking, what a viewer sees, limits and
 * bad input (each checked to change nothing), contacts and blocks, paging, batching.
 */
import { SignJWT } from 'jose';
import { BACKENDS, uid, useBackend } from '../helpers/backends';
import { gql, userClient } from '../helpers/client';
import { TEST_SECRET, TestServer } from '../helpers/server';

const PRESENCE = `userId status customStatus activity { type name url startedAt } devices { id type status connectedAt lastSeenAt } lastSeenAt since version`;

describe.each(BACKENDS)('HTTP contract on %s', (backend) => {
  const env = useBackend(backend);
  let server: TestServer;
  let url: string;
  const admin = () => userClient(url, 'admin-bot', true);
  const heartbeat = (user: string, device: Record<string, unknown> = { id: 'd1' }) =>
    gql<{ heartbeat: { presence: { status: string; version: number } } }>(
      url,
      `mutation($d: DeviceInput) { heartbeat(device: $d) { ttlSeconds nextHeartbeatInSeconds presence { ${PRESENCE} } } }`,
      { d: device },
      { user },
    );
  const view = async (viewer: string, userId: string) =>
    (await gql<{ presence: Record<string, unknown> }>(url, `query($u: ID!) { presence(userId: $u) { ${PRESENCE} } }`, { u: userId }, { user: viewer })).data!.presence;
  const me = async (user: string) => (await gql<{ me: Record<string, unknown> }>(url, `{ me { ${PRESENCE} } }`, {}, { user })).data!.me;
  const link = async (a: string, ...others: string[]) => {
    const res = await admin()(`mutation($u: ID!, $c: [ID!]!) { addContacts(userId: $u, contactIds: $c) }`, { u: a, c: others });
    expect(res.errors).toBeUndefined();
  };
  const setStatus = (user: string, input: Record<string, unknown>) =>
    gql<{ setStatus: Record<string, unknown> }>(url, `mutation($i: SetStatusInput!) { setStatus(input: $i) { ${PRESENCE} } }`, { i: input }, { user });

  beforeAll(async () => {
    server = await env.start({ PRESENCE_MAX_DEVICES: '10' });
    url = server.url;
  });

  describe('who is asking', () => {
    it('refuses a request without a token with UNAUTHENTICATED', async () => {
      const res = await gql(url, '{ me { status } }');
      expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('refuses a badly signed, an expired, and a bad-subject token', async () => {
      const key = new TextEncoder().encode(TEST_SECRET);
      const wrong = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').sign(new TextEncoder().encode('another-secret-entirely-123'));
      const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('a').setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(key);
      const badSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('not valid!').sign(key);
      for (const t of [wrong, expired, badSub, 'garbage']) {
        const res = await gql(url, '{ me { status } }', {}, { header: `Bearer ${t}` });
        expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      }
    });

    it('answers introspection without a token', async () => {
      const res = await gql<{ __schema: { queryType: { name: string } } }>(url, '{ __schema { queryType { name } } }');
      expect(res.data?.__schema.queryType.name).toBe('Query');
    });

    it('accepts a bare token as well as Bearer', async () => {
      const res = await gql(url, '{ me { status } }', {}, { header: await (await import('../helpers/client')).token('bare-user') });
      expect(res.errors).toBeUndefined();
    });

    it('keeps admin fields behind presence:admin (FORBIDDEN)', async () => {
      const user = uid('plain');
      const a = await gql(url, `mutation { setContacts(userId: "${user}", contactIds: []) }`, {}, { user });
      expect(a.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      const b = await gql(url, `{ onlineUsers { userIds } }`, {}, { user });
      expect(b.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    });

    it('serves queries over GET and refuses mutations over GET', async () => {
      const user = uid('get');
      const t = await (await import('../helpers/client')).token(user);
      const q = await fetch(`${url}/graphql?query=${encodeURIComponent('{ me { status version } }')}`, { headers: { authorization: `Bearer ${t}` } });
      expect(((await q.json()) as { data: { me: { status: string } } }).data.me.status).toBe('OFFLINE');
      const m = await fetch(`${url}/graphql?query=${encodeURIComponent('mutation { heartbeat { ttlSeconds } }')}`, { headers: { authorization: `Bearer ${t}` } });
      expect(m.status).toBeGreaterThanOrEqual(400);
      expect((await me(user)).status).toBe('OFFLINE');
    });

    it('marks every answer no-store, errors included', async () => {
      const user = uid('nostore');
      const t = await (await import('../helpers/client')).token(user);
      for (const body of [{ query: '{ me { status } }' }, { query: '{ nope }' }, { query: 'mutation { setStatus(input: { customStatus: "' + 'x'.repeat(200) + '" }) { version } }' }]) {
        const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` }, body: JSON.stringify(body) });
        expect(res.headers.get('cache-control')).toBe('no-store');
      }
      const unauthenticated = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ me { status } }"}' });
      expect(unauthenticated.headers.get('cache-control')).toBe('no-store');
    });

    it('leaves the fields of plain object types to the default resolver, also after HTTP requests (no per-field wrapper)', async () => {
      await me(uid('plain'));
      for (const typeName of ['Presence', 'PresenceEvent', 'Device', 'Activity']) {
        const type = server.app.schema.getType(typeName) as { getFields(): Record<string, { resolve?: unknown }> };
        for (const [name, field] of Object.entries(type.getFields())) expect([typeName, name, field.resolve]).toEqual([typeName, name, undefined]);
      }
    });
  });

  describe('what makes a user online', () => {
    it('heartbeat marks the default device online with the TTL figures', async () => {
      const user = uid('hb');
      const res = await gql<{ heartbeat: { ttlSeconds: number; nextHeartbeatInSeconds: number; presence: { status: string; devices: Array<{ id: string; type: string }> } } }>(
        url,
        `mutation { heartbeat { ttlSeconds nextHeartbeatInSeconds presence { status devices { id type } } } }`,
        {},
        { user },
      );
      expect(res.data?.heartbeat).toEqual({ ttlSeconds: 60, nextHeartbeatInSeconds: 25, presence: { status: 'ONLINE', devices: [{ id: 'default', type: 'WEB' }] } });
    });

    it('a heartbeat that only extends the TTL moves no version', async () => {
      const user = uid('ver');
      const first = await heartbeat(user);
      const second = await heartbeat(user);
      expect(second.data!.heartbeat.presence.version).toBe(first.data!.heartbeat.presence.version);
    });

    it('aggregates devices: any active → ONLINE, all idle → AWAY, preference wins', async () => {
      const user = uid('agg');
      await heartbeat(user, { id: 'phone', type: 'MOBILE', idle: true });
      expect((await me(user)).status).toBe('AWAY');
      await heartbeat(user, { id: 'laptop', type: 'DESKTOP' });
      const both = await me(user);
      expect(both.status).toBe('ONLINE');
      expect((both.devices as Array<{ id: string; status: string }>).map((d) => [d.id, d.status]).sort()).toEqual([
        ['laptop', 'ONLINE'],
        ['phone', 'AWAY'],
      ]);
      await setStatus(user, { status: 'BUSY' });
      expect((await me(user)).status).toBe('BUSY');
      await setStatus(user, { status: 'ONLINE' });
      await gql(url, `mutation { goOffline(deviceId: "laptop") { status } }`, {}, { user });
      expect((await me(user)).status).toBe('AWAY');
      await gql(url, `mutation { goOffline { status } }`, {}, { user });
      const off = await me(user);
      expect(off.status).toBe('OFFLINE');
      expect(off.devices).toEqual([]);
    });

    it('evicts the least recently seen device when the eleventh arrives', async () => {
      const user = uid('evict');
      for (let i = 0; i < 11; i++) await heartbeat(user, { id: `dev${i}` });
      const ids = ((await me(user)).devices as Array<{ id: string }>).map((d) => d.id).sort();
      expect(ids).toHaveLength(10);
      expect(ids).not.toContain('dev0');
      expect(ids).toContain('dev10');
    });

    it('keeps every device and a consistent state under concurrent heartbeats and goOffline', async () => {
      const user = uid('race');
      const before = (await me(user)).version as number;
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => heartbeat(user, { id: `c${i}` })));
      for (const r of results) expect(r.errors).toBeUndefined();
      const afterBeats = await me(user);
      expect((afterBeats.devices as unknown[]).length).toBe(8);
      expect(afterBeats.version as number).toBeGreaterThan(before);
      const offs = await Promise.all(
        Array.from({ length: 4 }, (_, i) => gql<{ goOffline: { version: number } }>(url, `mutation($d: ID) { goOffline(deviceId: $d) { version } }`, { d: `c${i}` }, { user })),
      );
      const versions = offs.map((o) => o.data!.goOffline.version);
      expect(new Set(versions).size).toBe(4); // each removal is its own step with its own version
      const final = await me(user);
      expect((final.devices as Array<{ id: string }>).map((d) => d.id).sort()).toEqual(['c4', 'c5', 'c6', 'c7']);
      expect(final.version as number).toBeGreaterThanOrEqual(Math.max(...versions));
    });
  });

  describe('what a viewer sees', () => {
    it('a stranger sees OFFLINE, nulls and version 0, whatever the user does', async () => {
      const user = uid('s-user');
      const stranger = uid('stranger');
      await heartbeat(user);
      await setStatus(user, { customStatus: 'hello', activity: { type: 'PLAYING', name: 'chess' } });
      expect(await view(stranger, user)).toEqual({
        userId: user,
        status: 'OFFLINE',
        customStatus: null,
        activity: null,
        devices: [],
        lastSeenAt: null,
        since: null,
        version: 0,
      });
      expect(await view(stranger, uid('never'))).toEqual(expect.objectContaining({ status: 'OFFLINE', version: 0, lastSeenAt: null }));
    });

    it('a contact sees status, devices, custom status and activity', async () => {
      const user = uid('c-user');
      const friend = uid('friend');
      await link(user, friend);
      await heartbeat(user, { id: 'web1' });
      await setStatus(user, { customStatus: 'lunch', activity: { type: 'LISTENING', name: 'jazz', url: 'https://example.com/jazz' } });
      const v = await view(friend, user);
      expect(v).toEqual(
        expect.objectContaining({ status: 'ONLINE', customStatus: 'lunch', activity: expect.objectContaining({ type: 'LISTENING', name: 'jazz', url: 'https://example.com/jazz' }) }),
      );
      expect((v.devices as Array<{ id: string }>).map((d) => d.id)).toEqual(['web1']);
      expect(v.version).toBeGreaterThan(0);
    });

    it('setStatus keeps absent fields and clears explicit nulls', async () => {
      const user = uid('st');
      await setStatus(user, { customStatus: 'focus', activity: { type: 'CUSTOM', name: 'writing' } });
      await setStatus(user, { status: 'AWAY' });
      let self = await me(user);
      expect(self.customStatus).toBe('focus');
      expect(self.activity).not.toBeNull();
      await setStatus(user, { customStatus: null });
      self = await me(user);
      expect(self.customStatus).toBeNull();
      expect(self.activity).not.toBeNull();
      await setStatus(user, { activity: null });
      expect((await me(user)).activity).toBeNull();
    });

    it('INVISIBLE: self sees INVISIBLE, a contact sees a frozen offline view that does not move', async () => {
      const user = uid('inv');
      const friend = uid('inv-friend');
      await link(user, friend);
      await heartbeat(user);
      await setStatus(user, { status: 'INVISIBLE' });
      expect((await me(user)).status).toBe('INVISIBLE');
      const frozen = await view(friend, user);
      expect(frozen).toEqual(expect.objectContaining({ status: 'OFFLINE', devices: [], customStatus: null, activity: null }));
      expect(frozen.lastSeenAt).not.toBeNull();
      await setStatus(user, { customStatus: 'secret' });
      await heartbeat(user, { id: 'other' });
      expect(await view(friend, user)).toEqual(frozen);
      await setStatus(user, { status: 'ONLINE' });
      const back = await view(friend, user);
      expect(back.status).toBe('ONLINE');
      expect(back.version as number).toBeGreaterThan(frozen.version as number);
    });

    it('a blocked viewer sees the same frozen-offline view a contact sees of an invisible user', async () => {
      const blocker = uid('blocker');
      const blocked = uid('blocked');
      const invisible = uid('invisible');
      const watcher = uid('watcher');
      await link(blocker, blocked);
      await link(invisible, watcher);
      await Promise.all([heartbeat(blocker), heartbeat(invisible)]);
      await setStatus(blocker, { customStatus: 'hi' });
      await setStatus(invisible, { customStatus: 'hi' });
      const blockRes = await gql<{ blockUser: boolean }>(url, `mutation($u: ID!) { blockUser(userId: $u) }`, { u: blocked }, { user: blocker });
      expect(blockRes.data?.blockUser).toBe(true);
      await setStatus(invisible, { status: 'INVISIBLE' });
      const a = await view(blocked, blocker);
      const b = await view(watcher, invisible);
      const shape = (p: Record<string, unknown>) => ({ ...p, userId: '<id>', lastSeenAt: typeof p.lastSeenAt, since: typeof p.since, version: typeof p.version });
      expect(shape(a)).toEqual(shape(b));
      expect(shape(a)).toEqual({ userId: '<id>', status: 'OFFLINE', customStatus: null, activity: null, devices: [], lastSeenAt: 'string', since: 'string', version: 'number' });
      // The blocker sees the blocked user as a stranger.
      await heartbeat(blocked);
      expect(await view(blocker, blocked)).toEqual(expect.objectContaining({ status: 'OFFLINE', version: 0, lastSeenAt: null }));
    });

    it('blockUser/unblockUser report whether anything changed; blockedUsers lists them', async () => {
      const user = uid('b');
      const other = uid('b-other');
      const block = (u: string) => gql<{ blockUser: boolean }>(url, `mutation($u: ID!) { blockUser(userId: $u) }`, { u }, { user });
      const unblock = (u: string) => gql<{ unblockUser: boolean }>(url, `mutation($u: ID!) { unblockUser(userId: $u) }`, { u }, { user });
      expect((await block(other)).data?.blockUser).toBe(true);
      expect((await block(other)).data?.blockUser).toBe(false);
      expect((await gql<{ blockedUsers: string[] }>(url, `{ blockedUsers }`, {}, { user })).data?.blockedUsers).toEqual([other]);
      expect((await unblock(other)).data?.unblockUser).toBe(true);
      expect((await unblock(other)).data?.unblockUser).toBe(false);
      expect((await gql<{ blockedUsers: string[] }>(url, `{ blockedUsers }`, {}, { user })).data?.blockedUsers).toEqual([]);
    });
  });

  describe('contacts', () => {
    it('admin mutations are mutual and return the whole list', async () => {
      const u = uid('u');
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      const set = await admin()<{ setContacts: string[] }>(`mutation($u: ID!, $c: [ID!]!) { setContacts(userId: $u, contactIds: $c) }`, { u, c: [a, b] });
      expect(set.data?.setContacts).toEqual([a, b].sort());
      const add = await admin()<{ addContacts: string[] }>(`mutation($u: ID!, $c: [ID!]!) { addContacts(userId: $u, contactIds: $c) }`, { u, c: [c] });
      expect(add.data?.addContacts).toEqual([a, b, c].sort());
      const rm = await admin()<{ removeContacts: string[] }>(`mutation($u: ID!, $c: [ID!]!) { removeContacts(userId: $u, contactIds: $c) }`, { u, c: [a] });
      expect(rm.data?.removeContacts).toEqual([b, c].sort());
      const ofB = await gql<{ contacts: Array<{ userId: string }> }>(url, `{ contacts { userId } }`, {}, { user: b });
      expect(ofB.data?.contacts.map((p) => p.userId)).toEqual([u]);
      const ofA = await gql<{ contacts: unknown[] }>(url, `{ contacts { userId } }`, {}, { user: a });
      expect(ofA.data?.contacts).toEqual([]);
      const reset = await admin()<{ setContacts: string[] }>(`mutation($u: ID!, $c: [ID!]!) { setContacts(userId: $u, contactIds: $c) }`, { u, c: [a] });
      expect(reset.data?.setContacts).toEqual([a]);
    });

    it('contacts(onlineOnly) drops those the viewer sees as OFFLINE', async () => {
      const u = uid('ol');
      const [on, off, inv] = [uid('on'), uid('off'), uid('inv')];
      await link(u, on, off, inv);
      await heartbeat(on);
      await heartbeat(inv);
      await setStatus(inv, { status: 'INVISIBLE' });
      const all = await gql<{ contacts: Array<{ userId: string }> }>(url, `{ contacts { userId } }`, {}, { user: u });
      expect(all.data?.contacts.map((p) => p.userId).sort()).toEqual([on, off, inv].sort());
      const online = await gql<{ contacts: Array<{ userId: string; status: string }> }>(url, `{ contacts(onlineOnly: true) { userId status } }`, {}, { user: u });
      expect(online.data?.contacts).toEqual([{ userId: on, status: 'ONLINE' }]);
    });

    it('presences answers in order, duplicates included', async () => {
      const u = uid('ps');
      const f = uid('ps-f');
      await link(u, f);
      await heartbeat(f);
      const res = await gql<{ presences: Array<{ userId: string; status: string }> }>(url, `query($ids: [ID!]!) { presences(userIds: $ids) { userId status } }`, { ids: [f, 'nobody', f] }, { user: u });
      expect(res.data?.presences).toEqual([
        { userId: f, status: 'ONLINE' },
        { userId: 'nobody', status: 'OFFLINE' },
        { userId: f, status: 'ONLINE' },
      ]);
    });

    it('presences of N ids costs one batched store read', async () => {
      const spy = jest.spyOn(server.app.store, 'readViews');
      const ids = Array.from({ length: 50 }, (_, i) => `batch-${i}`);
      await gql(url, `query($ids: [ID!]!) { presences(userIds: $ids) { userId } a: presence(userId: "x1") { userId } b: presence(userId: "x2") { userId } }`, { ids }, { user: uid('batcher') });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0][1]).toHaveLength(52);
      spy.mockRestore();
    });

    it('onlineUsers walks every online user, invisible included', async () => {
      const users = Array.from({ length: 23 }, () => uid('walk'));
      await Promise.all(users.map((u) => heartbeat(u)));
      await setStatus(users[0], { status: 'INVISIBLE' });
      const seen = new Set<string>();
      let after: string | null = null;
      for (let page = 0; page < 200; page++) {
        const res: { data?: { onlineUsers: { userIds: string[]; cursor: string | null } } } = await admin()(
          `query($a: String) { onlineUsers(first: 10, after: $a) { userIds cursor } }`,
          { a: after },
        );
        const pageData = res.data!.onlineUsers;
        expect(pageData.userIds.length).toBeLessThanOrEqual(10);
        pageData.userIds.forEach((id) => seen.add(id));
        after = pageData.cursor;
        if (after === null) break;
      }
      for (const u of users) expect(seen.has(u)).toBe(true);
    });
  });

  describe('limits and bad input change nothing', () => {
    it('rejects bad ids, long texts and bad URLs with BAD_USER_INPUT', async () => {
      const user = uid('bad');
      await heartbeat(user);
      await setStatus(user, { customStatus: 'keep' });
      const before = await me(user);
      const cases = [
        await setStatus(user, { customStatus: 'x'.repeat(129) }),
        await setStatus(user, { activity: { type: 'PLAYING', name: 'y'.repeat(129) } }),
        await setStatus(user, { activity: { type: 'STREAMING', name: 'ok', url: 'ftp://example.com/x' } }),
        await setStatus(user, { activity: { type: 'STREAMING', name: 'ok', url: `https://example.com/${'z'.repeat(520)}` } }),
        await heartbeat(user, { id: 'bad id!' }),
        await heartbeat(user, { id: 'x'.repeat(129) }),
        await gql(url, `mutation { goOffline(deviceId: "no/slash") { status } }`, {}, { user }),
        await gql(url, `{ presence(userId: "bad user") { status } }`, {}, { user }),
        await gql(url, `mutation { blockUser(userId: "") }`, {}, { user }),
        await gql(url, `query($ids: [ID!]!) { presences(userIds: $ids) { status } }`, { ids: Array.from({ length: 501 }, (_, i) => `u${i}`) }, { user }),
        await admin()(`mutation($c: [ID!]!) { setContacts(userId: "${user}", contactIds: $c) }`, { c: Array.from({ length: 501 }, (_, i) => `u${i}`) }),
      ];
      for (const res of cases) expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(await me(user)).toEqual(before);
      const contacts = await gql<{ contacts: unknown[] }>(url, `{ contacts { userId } }`, {}, { user });
      expect(contacts.data?.contacts).toEqual([]);
    });

    it('limits depth and aliases with GRAPHQL_VALIDATION_FAILED, introspection depth excepted', async () => {
      const user = uid('depth');
      const aliases = `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: me { status }`).join(' ')} }`;
      const resAliases = await gql(url, aliases, {}, { user });
      expect(resAliases.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const thirty = `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: me { status }`).join(' ')} }`;
      expect((await gql(url, thirty, {}, { user })).errors).toBeUndefined();
      // Introspection subtrees do not count for depth (this schema has no deeper recursion; see the unit test).
      const introspection = `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }`;
      expect((await gql(url, introspection)).errors).toBeUndefined();
    });

    it('rejects a batched HTTP request', async () => {
      const t = await (await import('../helpers/client')).token(uid('batch'));
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
        body: JSON.stringify([{ query: '{ me { status } }' }, { query: '{ me { status } }' }]),
      });
      expect(res.status).toBe(400);
    });

    it('hides internals: no stack traces outside development', async () => {
      const res = await gql(url, '{ me { status } }');
      expect(JSON.stringify(res)).not.toContain('stacktrace');
    });
  });

  describe('rate limit', () => {
    let limited: TestServer;
    beforeAll(async () => {
      limited = await env.start({ PRESENCE_RATE_LIMIT_PER_MINUTE: '3' });
    });

    it('answers RATE_LIMITED with retryAfterSeconds after the budget and changes nothing', async () => {
      const user = uid('rl');
      for (let i = 0; i < 3; i++) {
        const ok = await gql(limited.url, `mutation { setStatus(input: { customStatus: "n${i}" }) { customStatus } }`, {}, { user });
        expect(ok.errors).toBeUndefined();
      }
      const res = await gql(limited.url, `mutation { setStatus(input: { customStatus: "over" }) { customStatus } }`, {}, { user });
      expect(res.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
      expect(res.errors?.[0].extensions?.retryAfterSeconds).toEqual(expect.any(Number));
      expect((res.errors?.[0].extensions?.retryAfterSeconds as number) > 0).toBe(true);
      const self = await gql<{ me: { customStatus: string } }>(limited.url, `{ me { customStatus } }`, {}, { user });
      expect(self.data?.me.customStatus).toBe('n2');
      // Another user has their own budget.
      const other = await gql(limited.url, `mutation { setStatus(input: { customStatus: "mine" }) { customStatus } }`, {}, { user: uid('rl2') });
      expect(other.errors).toBeUndefined();
    });
  });
});
