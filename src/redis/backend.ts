/**
 * The Redis side of one node: connections, store, pub/sub, the node lease and the reaper
 * of dead nodes, keyspace notifications (the fast expiry path), and what happens when
 * Redis comes back after an outage.
 *
 * Lease: every second `SET lease epoch PX 5000 GET`; a reply that is not our epoch means
 * the lease lapsed (a pause, an outage, lost data): take a new epoch, record it, and
 * re-assert every open socket's device. Reaper: a node whose lease is gone has the tokens
 * of its recorded epoch (and older) dropped from its devices, which then take the
 * ordinary grace-then-expire path.
 */
import Redis, { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { Clock } from '../clock';
import { Config, nextHeartbeatSeconds } from '../config';
import { ConnectionRegistry } from '../liveness/connections';
import { Sweeper } from '../liveness/sweeper';
import { Metrics } from '../metrics';
import { RedisPresenceStore } from '../presence/store/redis';
import { Fanout } from '../realtime/fanout';
import { RedisPresencePubSub } from '../realtime/pubsub.redis';
import { FORGET_NODE } from './scripts';

const LEASE_TTL_MS = 5000;
/** One tick renews this node's lease and reaps nodes whose lease is gone. */
const TICK_MS = 1000;

export interface LivenessParts {
  registry: ConnectionRegistry;
  sweeper: Sweeper;
  fanout: Fanout;
}

export interface RedisBackend {
  client: Redis;
  store: RedisPresenceStore;
  pubsub: RedisPresencePubSub;
  attachLiveness(parts: LivenessParts): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One lease renewal and one reaper pass now (tests call this instead of waiting). */
  tick(): Promise<void>;
}

function redisOptions(): RedisOptions {
  return {
    lazyConnect: true,
    // Fail fast while Redis is away instead of queueing: the caller gets a clear error.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
  };
}

async function connect(redis: Redis, url: string): Promise<void> {
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(`REDIS_URL: cannot connect to ${url.replace(/\/\/[^@]*@/, '//***@')} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

/** Adds the flags keyspace expiry needs (E, x) to whatever the server already has. */
async function enableExpiryEvents(redis: Redis, logger: Logger): Promise<void> {
  try {
    const [, current = ''] = (await redis.config('GET', 'notify-keyspace-events')) as string[];
    let flags = current;
    if (!flags.includes('E')) flags += 'E';
    if (!flags.includes('x') && !flags.includes('A')) flags += 'x';
    if (flags !== current) await redis.config('SET', 'notify-keyspace-events', flags);
  } catch (error) {
    // Managed Redis often forbids CONFIG: the sweeper alone still expires devices.
    logger.warn({ err: error }, 'could not enable keyspace expiry notifications; relying on the deadline sweeper');
  }
}

export async function createRedisBackend(config: Config, clock: Clock, logger: Logger, metrics: Metrics): Promise<RedisBackend> {
  const url = config.redisUrl as string;
  // No auto-pipelining: the Pipeline object it builds per batch filled the old generation
  // (the half-load p99); the price is a lower best rate near saturation (README, Performance).
  // The store holds the socket's writes where commands must share a write (holdWrites).
  const client = new Redis(url, redisOptions());
  const subscriber = new Redis(url, redisOptions());
  const keyspace = new Redis(url, redisOptions());
  for (const [name, conn] of [
    ['commands', client],
    ['subscriber', subscriber],
    ['keyspace', keyspace],
  ] as const) {
    conn.on('error', (error: Error) => {
      metrics.redisErrors.inc();
      logger.debug({ err: error, connection: name }, 'redis connection error');
    });
  }
  await connect(client, url);
  await connect(subscriber, url);
  await connect(keyspace, url);
  client.defineCommand('presenceForgetNode', { numberOfKeys: 1, lua: FORGET_NODE });

  const store = new RedisPresenceStore(client, config.redisKeyPrefix, clock);
  const pubsub = new RedisPresencePubSub(client, subscriber, store.keys);
  const keys = store.keys;
  const db = Number(new URL(url).pathname.slice(1) || '0');
  let parts: LivenessParts | null = null;
  let leaseTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  let epochRecorded = 0;
  let renewing: Promise<void> | null = null;
  let reaping: Promise<void> | null = null;
  let everReady = false;

  const graceMs = config.disconnectGraceSeconds * 1000;

  async function renewLease(): Promise<void> {
    if (!parts || client.status !== 'ready') return;
    const { registry } = parts;
    if (epochRecorded !== registry.epoch) {
      await client.hset(keys.nodes(), registry.nodeId, String(registry.epoch));
      epochRecorded = registry.epoch;
    }
    const previous = await client.set(keys.nodeLease(registry.nodeId), String(registry.epoch), 'PX', LEASE_TTL_MS, 'GET');
    if (previous !== null && previous !== String(registry.epoch)) return; // renewed by a newer epoch of ours
    if (previous === null && registry.size() > 0) {
      // Our lease lapsed while sockets were open: their tokens may have been reaped.
      logger.warn({ nodeId: registry.nodeId }, 'node lease lapsed; re-asserting open sockets under a new epoch');
      await registry.reassert(true, false);
      await client.hset(keys.nodes(), registry.nodeId, String(registry.epoch));
      epochRecorded = registry.epoch;
      await client.set(keys.nodeLease(registry.nodeId), String(registry.epoch), 'PX', LEASE_TTL_MS);
    }
  }

  async function reapDeadNodes(): Promise<void> {
    if (!parts || client.status !== 'ready') return;
    const self = parts.registry.nodeId;
    const nodes = await client.hgetall(keys.nodes());
    for (const [nodeId, epochText] of Object.entries(nodes)) {
      if (nodeId === self) continue;
      if ((await client.exists(keys.nodeLease(nodeId))) === 1) continue;
      const claimed = await client.set(`${keys.nodeLease(nodeId)}:reaper`, self, 'PX', 10_000, 'NX');
      if (claimed !== 'OK') continue;
      const epoch = Number(epochText);
      const devices = await store.nodeDevices(nodeId);
      for (const { userId, deviceId } of devices) {
        await store.apply(userId, { kind: 'dropTokens', deviceId, nodeId, maxEpoch: epoch, graceMs });
        await client.srem(keys.nodeDevices(nodeId), `${userId}|${deviceId}`);
      }
      await (client as Redis & { presenceForgetNode(key: string, node: string, epoch: string): Promise<number> }).presenceForgetNode(keys.nodes(), nodeId, epochText);
      logger.info({ nodeId, devices: devices.length }, 'reaped a node whose lease expired');
    }
  }

  async function tick(): Promise<void> {
    renewing ??= renewLease()
      .catch((error: unknown) => logger.debug({ err: error }, 'lease renewal failed'))
      .finally(() => (renewing = null));
    await renewing;
    reaping ??= reapDeadNodes()
      .catch((error: unknown) => logger.debug({ err: error }, 'reaper pass failed'))
      .finally(() => (reaping = null));
    await reaping;
  }

  async function onReconnect(): Promise<void> {
    if (!parts || stopped) return;
    logger.info('redis is back: re-enabling notifications, re-asserting sockets, resyncing subscribers');
    parts.sweeper.pauseFor(LEASE_TTL_MS + nextHeartbeatSeconds(config.ttlSeconds) * 1000);
    // Notifications are re-enabled by the keyspace connection's own 'ready' handler.
    await renewLease();
    await parts.registry.reassert(false, true);
    parts.fanout.resyncAll();
  }

  client.on('ready', () => {
    if (everReady) void onReconnect().catch((error: unknown) => logger.error({ err: error }, 'recovery after reconnect failed'));
    everReady = true;
  });
  everReady = client.status === 'ready';

  const expiredChannel = `__keyevent@${db}__:expired`;
  keyspace.on('message', (channel: string, key: string) => {
    if (channel !== expiredChannel || !parts) return;
    const target = keys.parseTtl(key);
    if (target) void parts.sweeper.expireDevice(target.userId, target.deviceId);
  });
  keyspace.on('ready', () => void enableExpiryEvents(client, logger));

  return {
    client,
    store,
    pubsub,
    attachLiveness(p) {
      parts = p;
    },
    tick,
    async start() {
      await enableExpiryEvents(client, logger);
      await keyspace.subscribe(expiredChannel);
      await tick();
      leaseTimer = setInterval(() => void tick(), TICK_MS);
      leaseTimer.unref();
    },
    async stop() {
      stopped = true;
      if (leaseTimer) clearInterval(leaseTimer);
      await renewing;
      await reaping;
      if (parts && client.status === 'ready') {
        // Our sockets are closed (their devices took the grace path): leave no lease behind.
        const id = parts.registry.nodeId;
        await client.del(keys.nodeLease(id), keys.nodeDevices(id)).catch(() => undefined);
        await client.hdel(keys.nodes(), id).catch(() => undefined);
      }
      await Promise.all([client, subscriber, keyspace].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
