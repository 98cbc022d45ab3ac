/**
 * The IPC contract between the orchestrator (`bench/run.ts`) and load workers
 * (`bench/load/worker.ts`). Every request gets exactly one reply with the same `seq`.
 */
import type { HistogramSnapshot } from './histogram';

/** A user the worker acts as, with a token minted by the orchestrator. */
export interface BenchUser {
  userId: string;
  token: string;
}

/** A subscriber and how many INITIAL events mean its subscription is live. */
export interface SubscriberSpec extends BenchUser {
  expectedInitial: number;
}

/** Opens one graphql-ws connection per subscriber and starts the Watch subscription. */
export interface ConnectSubscribersRequest {
  kind: 'connectSubscribers';
  url: string;
  subscribers: SubscriberSpec[];
  concurrency: number;
  timeoutMs: number;
}

/** Outcome of {@link ConnectSubscribersRequest}. */
export interface ConnectSubscribersResult {
  acked: number;
  ready: number;
  failed: number;
  elapsedMs: number;
  firstErrors: string[];
}

/** Opens one graphql-ws connection per publisher, with `connectionParams.device`. */
export interface ConnectPublishersRequest {
  kind: 'connectPublishers';
  /** Which set of publishers they join (a step publishes from one set); default 'main'. */
  population?: string;
  url: string;
  publishers: BenchUser[];
  deviceId: string;
  concurrency: number;
  timeoutMs: number;
}

/** Outcome of {@link ConnectPublishersRequest}. */
export interface ConnectPublishersResult {
  acked: number;
  failed: number;
  firstErrors: string[];
}

/** Sends SetStatus at a fixed open-loop rate from this worker's publishers. */
export interface RunStepRequest {
  kind: 'runStep';
  /** The publishers to send from (see ConnectPublishersRequest.population); default 'main'. */
  population?: string;
  step: number;
  publishesPerSecond: number;
  durationMs: number;
}

/** What this worker sent during a step. */
export interface RunStepResult {
  sent: number;
  elapsedMs: number;
  /** Largest gap between when a send was due and when it went out (generator stalls). */
  maxSendLagMs: number;
}

/** Cheap progress probe used while draining a step. */
export interface PeekStepRequest {
  kind: 'peekStep';
  step: number;
}

/** Events of a step received so far by this worker's subscribers. */
export interface PeekStepResult {
  received: number;
}

/** Takes (and forgets) a step's latency histogram plus error counters since the last collect. */
export interface CollectStepRequest {
  kind: 'collectStep';
  step: number;
}

/** Receipt side of a step, as seen by this worker. */
export interface CollectStepResult {
  received: number;
  /** Receipt time (epoch ms) of the last event of this step, 0 when none arrived. */
  lastReceiptMs: number;
  histogram: HistogramSnapshot;
  mutationOk: number;
  mutationErrors: number;
  unexpectedCloses: number;
  firstErrors: string[];
}

/** Cumulative CPU time of the worker process. */
export interface CpuUsageRequest {
  kind: 'cpuUsage';
}

/** `process.cpuUsage()` in milliseconds. */
export interface CpuUsageResult {
  userMs: number;
  systemMs: number;
}

/** Closed-loop HTTP heartbeats: `concurrency` requests in flight for `durationMs`. */
export interface HeartbeatLoadRequest {
  kind: 'heartbeatLoad';
  url: string;
  users: BenchUser[];
  deviceId: string;
  concurrency: number;
  durationMs: number;
  maxRequests: number;
}

/** Outcome of {@link HeartbeatLoadRequest}. */
export interface HeartbeatLoadResult {
  ok: number;
  failed: number;
  elapsedMs: number;
  histogram: HistogramSnapshot;
  firstErrors: string[];
}

/** One heartbeat per user (for offline lateness), recording when each was sent. */
export interface HeartbeatOnceRequest {
  kind: 'heartbeatOnce';
  url: string;
  users: BenchUser[];
  deviceId: string;
  concurrency: number;
}

/** One user's heartbeat timing. */
export interface HeartbeatReceipt {
  userId: string;
  sentAtMs: number;
  doneAtMs: number;
  ok: boolean;
}

/** Outcome of {@link HeartbeatOnceRequest}. */
export interface HeartbeatOnceResult {
  receipts: HeartbeatReceipt[];
  firstErrors: string[];
}

/** First EXPIRED receipt per user seen by this worker's subscribers since `sinceMs`. */
export interface ExpiredReceiptsRequest {
  kind: 'expiredReceipts';
  sinceMs: number;
}

/** Pairs of [userId, receivedAtMs]. */
export interface ExpiredReceiptsResult {
  receipts: Array<[string, number]>;
}

/** Closes every socket this worker holds and forgets all state. */
export interface CloseAllRequest {
  kind: 'closeAll';
}

/** How many sockets were closed. */
export interface CloseAllResult {
  closed: number;
}

/** Any request the orchestrator may send. */
export type WorkerRequest =
  | ConnectSubscribersRequest
  | ConnectPublishersRequest
  | RunStepRequest
  | PeekStepRequest
  | CollectStepRequest
  | CpuUsageRequest
  | HeartbeatLoadRequest
  | HeartbeatOnceRequest
  | ExpiredReceiptsRequest
  | CloseAllRequest;

/** The reply type for each request kind. */
export interface WorkerResults {
  connectSubscribers: ConnectSubscribersResult;
  connectPublishers: ConnectPublishersResult;
  runStep: RunStepResult;
  peekStep: PeekStepResult;
  collectStep: CollectStepResult;
  cpuUsage: CpuUsageResult;
  heartbeatLoad: HeartbeatLoadResult;
  heartbeatOnce: HeartbeatOnceResult;
  expiredReceipts: ExpiredReceiptsResult;
  closeAll: CloseAllResult;
}

/** Orchestrator → worker envelope. */
export interface WorkerEnvelope {
  seq: number;
  request: WorkerRequest;
}

/** Worker → orchestrator envelope. */
export type WorkerReply =
  | { seq: number; ok: true; result: WorkerResults[WorkerRequest['kind']] }
  | { seq: number; ok: false; error: string };

/** Sent once by a worker when it is ready for requests. */
export interface WorkerHello {
  hello: true;
  pid: number;
}
