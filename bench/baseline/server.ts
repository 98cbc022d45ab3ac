/**
 * The raw baseline: the least a hand-written `ws` server must do to give the bench's
 * clients the same bytes the presence service gives them, and nothing more.
 *
 * It speaks just enough graphql-transport-ws for the bench (connection_init with a verified
 * HS256 token, subscribe by operationName, next, complete, ping/pong) and just enough
 * GraphQL-over-HTTP for the bench's admin and heartbeat calls, but never parses or executes
 * GraphQL. Fan-out is the fastest raw thing: each change is serialized once, one frame Buffer
 * is built per distinct subscription id, and that Buffer is sent to every receiver.
 *
 * Backends mirror the service's:
 * - memory (no BASELINE_REDIS_URL): contacts, statuses and device timers live in the process;
 *   a device expires by its own setTimeout.
 * - redis: a status change is `HSET` + `PUBLISH` in one pipeline and fans out when the
 *   message comes back; a heartbeat is one `SET … EX ttl GET`; expiry is Redis keyspace
 *   notifications only (`__keyevent@0__:expired`), i.e. Redis's own expiry cycle with no sweeper.
 *
 * Environment: BASELINE_PORT, BASELINE_JWT_SECRET, BASELINE_TTL_SECONDS (default 60),
 * BASELINE_REDIS_URL (optional).
 */
import http from 'node:http';
import Redis from 'ioredis';
import { jwtVerify } from 'jose';
import WebSocket, { WebSocketServer } from 'ws';
import { GRAPHQL_WS_PROTOCOL } from '../load/wire';

type Status = 'ONLINE' | 'OFFLINE';
type Reason = 'INITIAL' | 'CONNECTED' | 'DISCONNECTED' | 'EXPIRED' | 'PROFILE_CHANGED';

interface Watch {
  socket: WebSocket;
  id: string;
}

interface UserState {
  contacts: Set<string>;
  watches: Watch[];
  customStatus: string | null;
  version: number;
  deviceSockets: number;
  /** Heartbeat devices believed alive (memory: timer per device; redis: until the expiry event). */
  heartbeatDevices: Map<string, NodeJS.Timeout | null>;
  since: string | null;
  lastSeenAt: string | null;
}

const port = Number(process.env.BASELINE_PORT ?? '0');
const secret = new TextEncoder().encode(process.env.BASELINE_JWT_SECRET ?? '');
const ttlSeconds = Number(process.env.BASELINE_TTL_SECONDS ?? '60');
const redisUrl = process.env.BASELINE_REDIS_URL;
const PRESENCE_CHANNEL = 'baseline:presence';
const DEVICE_KEY_PREFIX = 'baseline:device:';
const EXPIRED_CHANNEL = '__keyevent@0__:expired';

const users = new Map<string, UserState>();
const commands = redisUrl === undefined ? undefined : new Redis(redisUrl);
const listener = redisUrl === undefined ? undefined : new Redis(redisUrl);

function userState(userId: string): UserState {
  let user = users.get(userId);
  if (user === undefined) {
    user = {
      contacts: new Set(),
      watches: [],
      customStatus: null,
      version: 0,
      deviceSockets: 0,
      heartbeatDevices: new Map(),
      since: null,
      lastSeenAt: null,
    };
    users.set(userId, user);
  }
  return user;
}

function statusOf(user: UserState): Status {
  return user.deviceSockets > 0 || user.heartbeatDevices.size > 0 ? 'ONLINE' : 'OFFLINE';
}

function presenceJson(userId: string, user: UserState): string {
  return JSON.stringify({
    userId,
    status: statusOf(user),
    customStatus: user.customStatus,
    version: user.version,
    lastSeenAt: user.lastSeenAt,
    since: user.since,
  });
}

function eventJson(userId: string, user: UserState, reason: Reason, previousStatus: Status): string {
  return `{"reason":"${reason}","previousStatus":"${previousStatus}","at":"${new Date().toISOString()}","presence":${presenceJson(userId, user)}}`;
}

function nextFrame(subscriptionId: string, eventBody: string): Buffer {
  return Buffer.from(`{"id":${JSON.stringify(subscriptionId)},"type":"next","payload":{"data":{"presenceChanged":${eventBody}}}}`);
}

/** Sends one event about `userId` to every subscription of every contact: serialize once, send many. */
function fanOut(userId: string, reason: Reason, previousStatus: Status): void {
  const user = users.get(userId);
  if (user === undefined) return;
  const body = eventJson(userId, user, reason, previousStatus);
  const frames = new Map<string, Buffer>();
  for (const contactId of user.contacts) {
    const contact = users.get(contactId);
    if (contact === undefined) continue;
    for (const watch of contact.watches) {
      let frame = frames.get(watch.id);
      if (frame === undefined) {
        frame = nextFrame(watch.id, body);
        frames.set(watch.id, frame);
      }
      if (watch.socket.readyState === WebSocket.OPEN) watch.socket.send(frame, { binary: false });
    }
  }
}

function touchVersion(user: UserState): void {
  user.version = Math.max(user.version + 1, Math.floor((Date.now() - Date.UTC(2026, 0, 1)) / 1000));
}

function markOnline(userId: string, change: () => void): void {
  const user = userState(userId);
  const before = statusOf(user);
  change();
  const now = new Date().toISOString();
  user.lastSeenAt = now;
  if (before === 'OFFLINE' && statusOf(user) === 'ONLINE') {
    user.since = now;
    touchVersion(user);
    fanOut(userId, 'CONNECTED', 'OFFLINE');
  }
}

function markMaybeOffline(userId: string, reason: 'DISCONNECTED' | 'EXPIRED', change: () => void): void {
  const user = userState(userId);
  const before = statusOf(user);
  change();
  if (before === 'ONLINE' && statusOf(user) === 'OFFLINE') {
    user.since = new Date().toISOString();
    touchVersion(user);
    fanOut(userId, reason, 'ONLINE');
  }
}

function applyStatus(userId: string, customStatus: string): void {
  const user = userState(userId);
  user.customStatus = customStatus;
  touchVersion(user);
  fanOut(userId, 'PROFILE_CHANGED', statusOf(user));
}

async function verifiedSubject(token: string | undefined): Promise<{ userId: string; admin: boolean } | null> {
  if (token === undefined) return null;
  try {
    const { payload } = await jwtVerify(token.replace(/^Bearer\s+/i, ''), secret, { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string') return null;
    const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    return { userId: payload.sub, admin: scope.includes('presence:admin') };
  } catch {
    return null;
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

// ---------------------------------------------------------------- WebSocket side

interface SocketSession {
  userId: string | null;
  deviceId: string | null;
}

function sendJson(socket: WebSocket, message: unknown): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

async function handleConnectionInit(socket: WebSocket, session: SocketSession, payload: Record<string, unknown>): Promise<void> {
  const authorization = typeof payload.authorization === 'string' ? payload.authorization : undefined;
  const subject = await verifiedSubject(authorization);
  if (subject === null) {
    socket.close(4403, 'Forbidden');
    return;
  }
  session.userId = subject.userId;
  const device = record(payload.device);
  if (typeof device.id === 'string') {
    session.deviceId = device.id;
    markOnline(subject.userId, () => {
      userState(subject.userId).deviceSockets += 1;
    });
  }
  sendJson(socket, { type: 'connection_ack' });
}

function startWatch(socket: WebSocket, userId: string, id: string, query: string): void {
  const user = userState(userId);
  user.watches.push({ socket, id });
  if (!/initial:\s*true/.test(query)) return;
  for (const contactId of user.contacts) {
    const contact = userState(contactId);
    socket.send(nextFrame(id, eventJson(contactId, contact, 'INITIAL', 'OFFLINE')), { binary: false });
  }
}

function handleSetStatus(socket: WebSocket, userId: string, id: string, variables: Record<string, unknown>): void {
  const customStatus = typeof variables.s === 'string' ? variables.s : '';
  const reply = (): void => {
    sendJson(socket, { id, type: 'next', payload: { data: { setStatus: { version: userState(userId).version } } } });
    sendJson(socket, { id, type: 'complete' });
  };
  if (commands === undefined) {
    applyStatus(userId, customStatus);
    reply();
    return;
  }
  commands
    .pipeline()
    .hset(`baseline:user:${userId}`, 'customStatus', customStatus)
    .publish(PRESENCE_CHANNEL, JSON.stringify({ userId, customStatus }))
    .exec()
    .then(reply, (error: unknown) => sendJson(socket, { id, type: 'error', payload: [{ message: String(error) }] }));
}

function handleSocketMessage(socket: WebSocket, session: SocketSession, data: WebSocket.RawData): void {
  let message: Record<string, unknown>;
  try {
    message = record(JSON.parse(data.toString()));
  } catch {
    socket.close(4400, 'Invalid message');
    return;
  }
  const type = message.type;
  if (type === 'connection_init') {
    void handleConnectionInit(socket, session, record(message.payload));
    return;
  }
  if (type === 'ping') {
    sendJson(socket, { type: 'pong' });
    return;
  }
  if (session.userId === null) {
    socket.close(4401, 'Unauthorized');
    return;
  }
  const id = typeof message.id === 'string' ? message.id : '';
  if (type === 'complete') {
    const user = userState(session.userId);
    user.watches = user.watches.filter((w) => w.socket !== socket || w.id !== id);
    return;
  }
  if (type !== 'subscribe') return;
  const payload = record(message.payload);
  const variables = record(payload.variables);
  if (payload.operationName === 'Watch') startWatch(socket, session.userId, id, String(payload.query ?? ''));
  else if (payload.operationName === 'SetStatus') handleSetStatus(socket, session.userId, id, variables);
  else sendJson(socket, { id, type: 'error', payload: [{ message: 'baseline: unknown operation' }] });
}

function handleSocketClose(socket: WebSocket, session: SocketSession): void {
  const userId = session.userId;
  if (userId === null) return;
  const user = userState(userId);
  user.watches = user.watches.filter((w) => w.socket !== socket);
  if (session.deviceId !== null) {
    markMaybeOffline(userId, 'DISCONNECTED', () => {
      user.deviceSockets -= 1;
    });
  }
}

// ---------------------------------------------------------------- HTTP side

function setContacts(userId: string, contactIds: string[]): string[] {
  const user = userState(userId);
  const next = new Set(contactIds.filter((id) => id !== userId));
  for (const old of user.contacts) if (!next.has(old)) userState(old).contacts.delete(userId);
  user.contacts = next;
  for (const id of next) userState(id).contacts.add(userId);
  return [...next];
}

function heartbeatMemory(userId: string, deviceId: string): void {
  const user = userState(userId);
  const previous = user.heartbeatDevices.get(deviceId);
  if (previous) clearTimeout(previous);
  const timer = setTimeout(() => {
    markMaybeOffline(userId, 'EXPIRED', () => {
      user.heartbeatDevices.delete(deviceId);
    });
  }, ttlSeconds * 1000);
  markOnline(userId, () => {
    user.heartbeatDevices.set(deviceId, timer);
  });
}

async function heartbeatRedis(redis: Redis, userId: string, deviceId: string): Promise<void> {
  // One command, one round trip: extend the TTL and learn whether the device was already alive.
  const previous = await redis.set(`${DEVICE_KEY_PREFIX}${userId}:${deviceId}`, '1', 'EX', ttlSeconds, 'GET');
  const user = userState(userId);
  if (previous === null || !user.heartbeatDevices.has(deviceId)) {
    markOnline(userId, () => {
      user.heartbeatDevices.set(deviceId, null);
    });
  } else {
    user.lastSeenAt = new Date().toISOString();
  }
}

function answer(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function handleGraphqlPost(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = record(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  const subject = await verifiedSubject(request.headers.authorization);
  if (subject === null) {
    answer(response, 200, { errors: [{ message: 'Unauthenticated', extensions: { code: 'UNAUTHENTICATED' } }] });
    return;
  }
  const variables = record(body.variables);
  if (body.operationName === 'Contacts') {
    if (!subject.admin) {
      answer(response, 200, { errors: [{ message: 'Forbidden', extensions: { code: 'FORBIDDEN' } }] });
      return;
    }
    const contactIds = Array.isArray(variables.c) ? variables.c.filter((c): c is string => typeof c === 'string') : [];
    answer(response, 200, { data: { setContacts: setContacts(String(variables.u), contactIds) } });
    return;
  }
  if (body.operationName === 'Beat') {
    const device = record(variables.d);
    const deviceId = typeof device.id === 'string' ? device.id : 'default';
    if (commands === undefined) heartbeatMemory(subject.userId, deviceId);
    else await heartbeatRedis(commands, subject.userId, deviceId);
    answer(response, 200, {
      data: { heartbeat: { ttlSeconds, nextHeartbeatInSeconds: Math.max(1, Math.floor((ttlSeconds * 5) / 12)) } },
    });
    return;
  }
  answer(response, 200, { errors: [{ message: 'baseline: unknown operation' }] });
}

const httpServer = http.createServer((request, response) => {
  if (request.method === 'GET' && (request.url === '/healthz' || request.url === '/readyz')) {
    answer(response, 200, { ok: true });
    return;
  }
  if (request.method === 'POST' && request.url === '/graphql') {
    handleGraphqlPost(request, response).catch((error: unknown) => answer(response, 500, { errors: [{ message: String(error) }] }));
    return;
  }
  answer(response, 404, { error: 'not found' });
});
httpServer.keepAliveTimeout = 60_000;

const wsServer = new WebSocketServer({
  server: httpServer,
  path: '/graphql',
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has(GRAPHQL_WS_PROTOCOL) ? GRAPHQL_WS_PROTOCOL : false),
});

wsServer.on('connection', (socket) => {
  const session: SocketSession = { userId: null, deviceId: null };
  socket.on('message', (data) => handleSocketMessage(socket, session, data));
  socket.on('close', () => handleSocketClose(socket, session));
  socket.on('error', () => socket.terminate());
});

async function startRedisSide(): Promise<void> {
  if (commands === undefined || listener === undefined) return;
  // Keep whatever flags the service set on this Redis and add E (keyevent) + x (expired).
  const current = await commands.config('GET', 'notify-keyspace-events');
  const flags = new Set(String(Array.isArray(current) ? current[1] ?? '' : '').split(''));
  flags.add('E');
  flags.add('x');
  await commands.config('SET', 'notify-keyspace-events', [...flags].join(''));
  listener.on('message', (channel: string, message: string) => {
    if (channel === PRESENCE_CHANNEL) {
      const change = record(JSON.parse(message));
      if (typeof change.userId === 'string' && typeof change.customStatus === 'string') applyStatus(change.userId, change.customStatus);
      return;
    }
    if (channel === EXPIRED_CHANNEL && message.startsWith(DEVICE_KEY_PREFIX)) {
      const rest = message.slice(DEVICE_KEY_PREFIX.length);
      const split = rest.lastIndexOf(':');
      const userId = rest.slice(0, split);
      const deviceId = rest.slice(split + 1);
      markMaybeOffline(userId, 'EXPIRED', () => {
        userState(userId).heartbeatDevices.delete(deviceId);
      });
    }
  });
  await listener.subscribe(PRESENCE_CHANNEL, EXPIRED_CHANNEL);
}

function shutdown(): void {
  for (const client of wsServer.clients) client.terminate();
  wsServer.close();
  httpServer.close();
  commands?.disconnect();
  listener?.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

startRedisSide()
  .then(() => httpServer.listen(port, '127.0.0.1', () => console.log(`baseline listening on 127.0.0.1:${port}`)))
  .catch((error: unknown) => {
    console.error('baseline failed to start', error);
    process.exit(1);
  });
