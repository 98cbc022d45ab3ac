/**
 * Redis goes away and comes back (killed and restarted on the same port): the service
 * stays up, answers /readyz 503 and clear errors meanwhile, then re-asserts live sockets,
 * resyncs subscriptions, and causes no OFFLINE/ONLINE pair for an outage shorter than the TTL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gql, sleep, subscribe, userClient, wsClient, WsHandle } from '../helpers/client';
import { startRedis, TestRedis } from '../helpers/redis';
import { spawnNode, startServer, TestServer } from '../helpers/server';

jest.setTimeout(60_000);

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await sleep(100);
  }
}

const readyStatus = async (server: TestServer) => (await fetch(`${server.url}/readyz`)).status;

describe('Redis restart', () => {
  const handles: WsHandle[] = [];
  let dir: string;
  let redis: TestRedis;
  let server: TestServer;
  const started: TestServer[] = [];

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.dispose()));
    await Promise.all(started.splice(0).map((s) => s.stop()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('with persistence: no flapping, clear errors meanwhile, subscriptions resume', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'presence-redis-'));
    redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    server = await startServer({ REDIS_URL: redis.url, PRESENCE_TTL_SECONDS: '30', PRESENCE_DISCONNECT_GRACE_SECONDS: '1' });
    started.push(server);
    await userClient(server.url, 'admin', true)(`mutation { addContacts(userId: "olga", contactIds: ["viktor"]) }`);
    const viewer = await wsClient(server.wsUrl, 'viktor', {}, { retryAttempts: 0 });
    const device = await wsClient(server.wsUrl, 'olga', { device: { id: 'tab', type: 'WEB' } }, { retryAttempts: 0 });
    handles.push(viewer, device);
    const sub = subscribe(viewer, { userIds: ['olga'], initial: true });
    await sub.waitFor((e) => e.some((x) => x.presence.status === 'ONLINE'));

    await redis.kill();
    await waitUntil(async () => (await readyStatus(server)) === 503);
    const failed = await gql(server.url, `mutation { setStatus(input: { customStatus: "during" }) { status } }`, {}, { user: 'olga' });
    expect(failed.errors?.[0].extensions?.code).toBe('SERVICE_UNAVAILABLE');
    await sleep(1500);
    await redis.restart();
    await waitUntil(async () => (await readyStatus(server)) === 200);

    const after = await gql(server.url, `mutation { setStatus(input: { customStatus: "after" }) { status } }`, {}, { user: 'olga' });
    expect(after.errors).toBeUndefined();
    await sub.waitFor((e) => e.some((x) => x.presence.customStatus === 'after'), 10_000);
    await sleep(7000); // past the lease TTL and the sweeper's pause: still no flapping
    const reasons = sub.events.map((e) => e.reason);
    expect(reasons).not.toContain('DISCONNECTED');
    expect(reasons).not.toContain('EXPIRED');
    const truth = await gql<{ presence: { status: string } }>(server.url, `{ presence(userId: "olga") { status } }`, {}, { user: 'viktor' });
    expect(truth.data?.presence.status).toBe('ONLINE');
  });

  it('without persistence: open sockets re-assert their devices', async () => {
    redis = await startRedis();
    server = await startServer({ REDIS_URL: redis.url, PRESENCE_TTL_SECONDS: '30' });
    started.push(server);
    const device = await wsClient(server.wsUrl, 'pavel', { device: { id: 'tab', type: 'WEB' }, }, { retryAttempts: 0 });
    handles.push(device);
    const self = subscribe(device, { userIds: ['pavel'], initial: true });
    await self.waitFor((e) => e.some((x) => x.presence.status === 'ONLINE'));
    await redis.kill();
    await redis.restart(); // empty: every state is gone
    await waitUntil(async () => {
      const me = await gql<{ me: { status: string } }>(server.url, `{ me { status } }`, {}, { user: 'pavel' });
      return me.data?.me.status === 'ONLINE';
    });
  });

  it('SIGTERM still drains and exits while Redis is down', async () => {
    redis = await startRedis();
    const node = await spawnNode({ REDIS_URL: redis.url });
    try {
      await redis.kill();
      await sleep(500);
      const exited = new Promise<number | null>((resolve) => node.proc.once('exit', (code) => resolve(code)));
      node.proc.kill('SIGTERM');
      let deadline: NodeJS.Timeout | undefined;
      const tooLong = new Promise<'still running'>((resolve) => (deadline = setTimeout(() => resolve('still running'), 10_000)));
      const code = await Promise.race([exited, tooLong]);
      clearTimeout(deadline); // a pending 10 s timer would hold the test process open after the suite
      expect(code).toBe(0);
    } finally {
      await node.kill('SIGKILL');
    }
  });
});
