/**
 * A load-generator process. The orchestrator forks a few of these (one per core is plenty)
 * and drives them over IPC (`./protocol.ts`). Each worker holds a share of the subscriber
 * and publisher connections, speaks graphql-transport-ws by hand over `ws`, records
 * send-to-receipt latency of every PROFILE_CHANGED event its subscribers receive, and runs
 * HTTP heartbeat load. Nothing here loops without a count or time bound.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { ErrorSample, forEachWithLimit, sleep, waitUntil } from '../infra/concurrency';
import { graphqlBody, isGraphqlSuccess, postGraphql } from '../infra/graphql-http';
import { LatencyHistogram } from './histogram';
import type {
  BenchUser,
  CloseAllResult,
  CollectStepResult,
  ConnectPublishersRequest,
  ConnectPublishersResult,
  ConnectSubscribersRequest,
  ConnectSubscribersResult,
  CpuUsageResult,
  ExpiredReceiptsRequest,
  ExpiredReceiptsResult,
  HeartbeatLoadRequest,
  HeartbeatLoadResult,
  HeartbeatOnceRequest,
  HeartbeatOnceResult,
  HeartbeatReceipt,
  PeekStepResult,
  RunStepRequest,
  RunStepResult,
  WorkerEnvelope,
  WorkerReply,
  WorkerRequest,
  WorkerResults,
} from './protocol';
import {
  encodeStatusMarker,
  findProfileMarker,
  GRAPHQL_WS_PROTOCOL,
  HEARTBEAT_DOCUMENT,
  preciseNowMs,
  setStatusFrame,
  WATCH_DOCUMENT,
  WATCH_SUBSCRIPTION_ID,
} from './wire';

interface SubscriberState {
  userId: string;
  expectedInitial: number;
  initialSeen: number;
}

interface Publisher {
  userId: string;
  socket: WebSocket;
  nextOperationId: number;
}

interface StepReceipts {
  received: number;
  lastReceiptMs: number;
  histogram: LatencyHistogram;
}

/** Every socket this worker opened and has not closed through closeAll. */
const sockets = new Set<WebSocket>();
/** Publishers by population: two targets can be kept connected and stepped in turns. */
const publishers = new Map<string, Publisher[]>();
const MAIN_POPULATION = 'main';

function publishersOf(population: string | undefined): Publisher[] {
  const name = population ?? MAIN_POPULATION;
  let list = publishers.get(name);
  if (list === undefined) {
    list = [];
    publishers.set(name, list);
  }
  return list;
}
const stepReceipts = new Map<number, StepReceipts>();
const expiredReceipts: Array<[string, number]> = [];
const errors = new ErrorSample();
let mutationOk = 0;
let mutationErrors = 0;
let unexpectedCloses = 0;
let closingAll = false;

const NEXT_NEEDLE = Buffer.from('"type":"next"');
const ERRORS_NEEDLE = Buffer.from('"errors"');
const ERROR_TYPE_NEEDLE = Buffer.from('"type":"error"');
const PING_NEEDLE = Buffer.from('"type":"ping"');
const PONG_FRAME = '{"type":"pong"}';

/** Normalises ws's RawData to one Buffer. */
function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function receiptsFor(step: number): StepReceipts {
  let receipts = stepReceipts.get(step);
  if (receipts === undefined) {
    receipts = { received: 0, lastReceiptMs: 0, histogram: new LatencyHistogram() };
    stepReceipts.set(step, receipts);
  }
  return receipts;
}

/** Narrows a parsed graphql-ws frame to the fields the bench reads. */
interface ParsedFrame {
  type?: unknown;
  id?: unknown;
  payload?: unknown;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** Reads presenceChanged.reason and presence.userId out of a `next` payload, if present. */
function presenceEventOf(payload: unknown): { reason: string; userId: string } | undefined {
  const event = asRecord(asRecord(asRecord(payload)?.data)?.presenceChanged);
  const presence = asRecord(event?.presence);
  if (typeof event?.reason !== 'string' || typeof presence?.userId !== 'string') return undefined;
  return { reason: event.reason, userId: presence.userId };
}

/** The slow path for subscriber frames that are not marked PROFILE_CHANGED events. */
function handleSubscriberControlFrame(
  subscriber: SubscriberState,
  socket: WebSocket,
  frame: Buffer,
  receivedAtMs: number,
): void {
  let parsed: ParsedFrame;
  try {
    parsed = JSON.parse(frame.toString('utf8')) as ParsedFrame;
  } catch (error) {
    errors.add(error);
    return;
  }
  if (parsed.type === 'ping') {
    socket.send(PONG_FRAME);
    return;
  }
  if (parsed.type === 'error') {
    errors.add(new Error(`subscription error for ${subscriber.userId}: ${JSON.stringify(parsed.payload)}`));
    return;
  }
  if (parsed.type !== 'next') return;
  const event = presenceEventOf(parsed.payload);
  if (event === undefined) {
    errors.add(new Error(`unexpected next payload: ${JSON.stringify(parsed.payload).slice(0, 200)}`));
    return;
  }
  if (event.reason === 'INITIAL') subscriber.initialSeen += 1;
  else if (event.reason === 'EXPIRED') expiredReceipts.push([event.userId, receivedAtMs]);
}

function handleSubscriberFrame(subscriber: SubscriberState, socket: WebSocket, data: WebSocket.RawData): void {
  const receivedAtMs = preciseNowMs();
  const frame = toBuffer(data);
  const marker = findProfileMarker(frame);
  if (marker !== null) {
    const receipts = receiptsFor(marker.step);
    receipts.received += 1;
    receipts.lastReceiptMs = receivedAtMs;
    receipts.histogram.record(receivedAtMs - marker.sentAtMs);
    return;
  }
  handleSubscriberControlFrame(subscriber, socket, frame, receivedAtMs);
}

function handlePublisherFrame(userId: string, socket: WebSocket, data: WebSocket.RawData): void {
  const frame = toBuffer(data);
  if (frame.indexOf(NEXT_NEEDLE) !== -1) {
    if (frame.indexOf(ERRORS_NEEDLE) !== -1) {
      mutationErrors += 1;
      errors.add(new Error(`setStatus failed for ${userId}: ${frame.toString('utf8').slice(0, 300)}`));
    } else {
      mutationOk += 1;
    }
  } else if (frame.indexOf(ERROR_TYPE_NEEDLE) !== -1) {
    mutationErrors += 1;
    errors.add(new Error(`setStatus error for ${userId}: ${frame.toString('utf8').slice(0, 300)}`));
  } else if (frame.indexOf(PING_NEEDLE) !== -1) {
    socket.send(PONG_FRAME);
  }
}

/**
 * Opens a graphql-ws connection and resolves once `connection_ack` arrives; from then on
 * every frame goes to `onFrame`. Rejects on error, early close or timeout.
 */
function openGraphqlSocket(
  url: string,
  connectionParams: Record<string, unknown>,
  timeoutMs: number,
  onFrame: (socket: WebSocket, data: WebSocket.RawData) => void,
  label: string,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, GRAPHQL_WS_PROTOCOL, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    let acked = false;
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`${label}: no connection_ack within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: connectionParams }));
    });
    socket.on('message', (data) => {
      if (acked) {
        onFrame(socket, data);
        return;
      }
      const text = toBuffer(data).toString('utf8');
      if (text.includes('"connection_ack"')) {
        acked = true;
        clearTimeout(timer);
        sockets.add(socket);
        resolve(socket);
      } else if (!text.includes('"ping"')) {
        clearTimeout(timer);
        socket.terminate();
        reject(new Error(`${label}: expected connection_ack, got ${text.slice(0, 200)}`));
      }
    });
    socket.on('error', (error) => {
      if (acked) {
        errors.add(error);
        return;
      }
      clearTimeout(timer);
      reject(new Error(`${label}: ${error.message}`));
    });
    socket.on('close', (code, reason) => {
      if (!acked) {
        clearTimeout(timer);
        reject(new Error(`${label}: closed ${code} ${reason.toString()} before connection_ack`));
      } else if (!closingAll) {
        unexpectedCloses += 1;
        errors.add(new Error(`${label}: socket closed ${code} ${reason.toString()}`));
      }
    });
  });
}

async function connectSubscribers(request: ConnectSubscribersRequest): Promise<ConnectSubscribersResult> {
  closingAll = false;
  const started = Date.now();
  const mine: SubscriberState[] = [];
  let failed = 0;
  const connectErrors = new ErrorSample();
  await forEachWithLimit(request.subscribers, request.concurrency, async (spec) => {
    const subscriber: SubscriberState = { userId: spec.userId, expectedInitial: spec.expectedInitial, initialSeen: 0 };
    try {
      const socket = await openGraphqlSocket(
        request.url,
        { authorization: `Bearer ${spec.token}` },
        request.timeoutMs,
        (frameSocket, data) => handleSubscriberFrame(subscriber, frameSocket, data),
        `subscriber ${spec.userId}`,
      );
      socket.send(
        JSON.stringify({
          id: WATCH_SUBSCRIPTION_ID,
          type: 'subscribe',
          payload: { operationName: 'Watch', query: WATCH_DOCUMENT, variables: {} },
        }),
      );
      mine.push(subscriber);
    } catch (error) {
      failed += 1;
      connectErrors.add(error);
    }
  });
  const allReady = (): boolean => mine.every((s) => s.initialSeen >= s.expectedInitial);
  await waitUntil(allReady, Math.max(0, request.timeoutMs - (Date.now() - started)), 50);
  return {
    acked: mine.length,
    ready: mine.filter((s) => s.initialSeen >= s.expectedInitial).length,
    failed,
    elapsedMs: Date.now() - started,
    firstErrors: [...connectErrors.drain(), ...errors.drain()],
  };
}

async function connectPublishers(request: ConnectPublishersRequest): Promise<ConnectPublishersResult> {
  closingAll = false;
  let failed = 0;
  let acked = 0;
  const connectErrors = new ErrorSample();
  await forEachWithLimit(request.publishers, request.concurrency, async (user) => {
    try {
      const socket = await openGraphqlSocket(
        request.url,
        { authorization: `Bearer ${user.token}`, device: { id: request.deviceId, type: 'WEB' } },
        request.timeoutMs,
        (frameSocket, data) => handlePublisherFrame(user.userId, frameSocket, data),
        `publisher ${user.userId}`,
      );
      publishersOf(request.population).push({ userId: user.userId, socket, nextOperationId: 1 });
      acked += 1;
    } catch (error) {
      failed += 1;
      connectErrors.add(error);
    }
  });
  return { acked, failed, firstErrors: connectErrors.drain() };
}

/**
 * Open-loop publishing: the n-th SetStatus is due at n / rate seconds after the start, and
 * the marker carries the moment it actually went out, so generator stalls show up as
 * `maxSendLagMs` rather than as hidden latency.
 */
function runStep(request: RunStepRequest): Promise<RunStepResult> {
  const total = Math.round((request.publishesPerSecond * request.durationMs) / 1000);
  const open = publishersOf(request.population).filter((p) => p.socket.readyState === WebSocket.OPEN);
  if (total === 0 || open.length === 0) {
    return sleep(request.durationMs).then(() => ({ sent: 0, elapsedMs: request.durationMs, maxSendLagMs: 0 }));
  }
  const intervalMs = 1000 / request.publishesPerSecond;
  const hardStop = request.durationMs + 5_000;
  return new Promise((resolve) => {
    const start = preciseNowMs();
    let issued = 0;
    let sent = 0;
    let maxSendLagMs = 0;
    let cursor = 0;
    const tick = (): void => {
      const elapsed = preciseNowMs() - start;
      const due = Math.min(total, Math.floor(elapsed / intervalMs) + 1);
      if (due > issued) maxSendLagMs = Math.max(maxSendLagMs, elapsed - issued * intervalMs);
      while (issued < due) {
        const publisher = open[cursor % open.length] as Publisher;
        cursor += 1;
        issued += 1;
        if (publisher.socket.readyState !== WebSocket.OPEN) continue;
        const operationId = publisher.nextOperationId;
        publisher.nextOperationId += 1;
        publisher.socket.send(setStatusFrame(operationId, encodeStatusMarker(request.step, preciseNowMs())));
        sent += 1;
      }
      if (issued >= total || elapsed > hardStop) {
        resolve({ sent, elapsedMs: preciseNowMs() - start, maxSendLagMs });
      } else {
        setTimeout(tick, 1);
      }
    };
    tick();
  });
}

function collectStep(step: number): CollectStepResult {
  const receipts = stepReceipts.get(step);
  stepReceipts.delete(step);
  const result: CollectStepResult = {
    received: receipts?.received ?? 0,
    lastReceiptMs: receipts?.lastReceiptMs ?? 0,
    histogram: (receipts?.histogram ?? new LatencyHistogram()).snapshot(),
    mutationOk,
    mutationErrors,
    unexpectedCloses,
    firstErrors: errors.drain(),
  };
  mutationOk = 0;
  mutationErrors = 0;
  unexpectedCloses = 0;
  return result;
}

/** Closed-loop heartbeat load: each lane sends the next request when the previous answers. */
async function heartbeatLoad(request: HeartbeatLoadRequest): Promise<HeartbeatLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: request.concurrency });
  const body = graphqlBody('Beat', HEARTBEAT_DOCUMENT, { d: { id: request.deviceId } });
  const histogram = new LatencyHistogram();
  const loadErrors = new ErrorSample();
  let ok = 0;
  let failed = 0;
  let issued = 0;
  const started = preciseNowMs();
  const deadline = started + request.durationMs;
  const lanes = Array.from({ length: request.concurrency }, async () => {
    while (preciseNowMs() < deadline && issued < request.maxRequests) {
      const user = request.users[issued % request.users.length] as BenchUser;
      issued += 1;
      const sentAt = preciseNowMs();
      try {
        const answer = await postGraphql(request.url, user.token, body, agent);
        histogram.record(preciseNowMs() - sentAt);
        if (isGraphqlSuccess(answer)) ok += 1;
        else {
          failed += 1;
          loadErrors.add(new Error(`heartbeat ${answer.status}: ${answer.body.slice(0, 300)}`));
        }
      } catch (error) {
        failed += 1;
        loadErrors.add(error);
        await sleep(10);
      }
    }
  });
  await Promise.all(lanes);
  const elapsedMs = preciseNowMs() - started;
  agent.destroy();
  return { ok, failed, elapsedMs, histogram: histogram.snapshot(), firstErrors: loadErrors.drain() };
}

async function heartbeatOnce(request: HeartbeatOnceRequest): Promise<HeartbeatOnceResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: request.concurrency });
  const body = graphqlBody('Beat', HEARTBEAT_DOCUMENT, { d: { id: request.deviceId } });
  const receipts: HeartbeatReceipt[] = [];
  const onceErrors = new ErrorSample();
  await forEachWithLimit(request.users, request.concurrency, async (user) => {
    const sentAtMs = preciseNowMs();
    let ok = false;
    try {
      const answer = await postGraphql(request.url, user.token, body, agent);
      ok = isGraphqlSuccess(answer);
      if (!ok) onceErrors.add(new Error(`heartbeat ${answer.status}: ${answer.body.slice(0, 300)}`));
    } catch (error) {
      onceErrors.add(error);
    }
    receipts.push({ userId: user.userId, sentAtMs, doneAtMs: preciseNowMs(), ok });
  });
  agent.destroy();
  return { receipts, firstErrors: onceErrors.drain() };
}

function expiredSince(request: ExpiredReceiptsRequest): ExpiredReceiptsResult {
  const first = new Map<string, number>();
  for (const [userId, at] of expiredReceipts) {
    if (at >= request.sinceMs && !first.has(userId)) first.set(userId, at);
  }
  return { receipts: [...first.entries()] };
}

async function closeAll(): Promise<CloseAllResult> {
  closingAll = true;
  const open = [...sockets];
  for (const socket of open) {
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000);
  }
  await waitUntil(() => open.every((s) => s.readyState === WebSocket.CLOSED), 3_000, 50);
  for (const socket of open) if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
  sockets.clear();
  publishers.clear();
  stepReceipts.clear();
  expiredReceipts.length = 0;
  errors.drain();
  return { closed: open.length };
}

function cpuUsage(): CpuUsageResult {
  const usage = process.cpuUsage();
  return { userMs: usage.user / 1000, systemMs: usage.system / 1000 };
}

type Handlers = { [K in WorkerRequest['kind']]: (request: Extract<WorkerRequest, { kind: K }>) => Promise<WorkerResults[K]> };

const handlers: Handlers = {
  connectSubscribers,
  connectPublishers,
  runStep,
  peekStep: async (request): Promise<PeekStepResult> => ({ received: stepReceipts.get(request.step)?.received ?? 0 }),
  collectStep: async (request) => collectStep(request.step),
  cpuUsage: async () => cpuUsage(),
  heartbeatLoad,
  heartbeatOnce,
  expiredReceipts: async (request) => expiredSince(request),
  closeAll,
};

function dispatch(request: WorkerRequest): Promise<WorkerResults[WorkerRequest['kind']]> {
  const handler = handlers[request.kind] as (r: WorkerRequest) => Promise<WorkerResults[WorkerRequest['kind']]>;
  return handler(request);
}

function isEnvelope(message: unknown): message is WorkerEnvelope {
  const record = asRecord(message);
  return typeof record?.seq === 'number' && typeof asRecord(record.request)?.kind === 'string';
}

process.on('message', (message: unknown) => {
  if (!isEnvelope(message)) return;
  dispatch(message.request).then(
    (result) => process.send?.({ seq: message.seq, ok: true, result } satisfies WorkerReply),
    (error: unknown) =>
      process.send?.({ seq: message.seq, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) } satisfies WorkerReply),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ hello: true, pid: process.pid });
