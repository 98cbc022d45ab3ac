/** The shape of `bench/results/<date>-<backend>.json`. */
import type { MachineInfo } from '../infra/machine';
import type { LatencySummary } from '../load/histogram';
import type { Backend, TargetKind } from '../targets';

/** One load step: a fixed offered rate for a fixed time, then a bounded drain. */
export interface StepResult {
  step: number;
  label: 'warmup' | 'step' | 'refine' | 'half-load' | 'matched-load' | 'interleaved';
  offeredEventsPerSec: number;
  publishesPerSec: number;
  durationMs: number;
  sent: number;
  expected: number;
  received: number;
  deliveredRatio: number;
  /** Events received for this step divided by the send window. */
  deliveredEventsPerSec: number;
  latency: LatencySummary;
  /** CPU of the measured process over send window + drain, in % of one core. */
  targetCpuPercent: number;
  /** CPU of all load workers together, in % of one core. */
  clientCpuPercent: number;
  /** CPU of the bench's redis-server (redis backend), in % of one core. */
  redisCpuPercent: number;
  /** Everything else on the machine (other users' work, the orchestrator), in % of one core. */
  otherCpuPercent: number;
  /** CPU the hypervisor stole from this VM during the step (% of one core; part of otherCpuPercent). */
  stealPercent: number;
  maxSendLagMs: number;
  mutationErrors: number;
  unexpectedCloses: number;
  passed: boolean;
  /** 1 + how many times this step was rerun because other work disturbed it. */
  attempts: number;
  errors: string[];
}

/** Stepped fan-out throughput and the half-load latency step. */
export interface FanoutResult {
  subscribers: number;
  publishers: number;
  contactsPerUser: number;
  steps: StepResult[];
  best: StepResult | null;
  /** At half of this target's own best rate. */
  halfLoad: StepResult | null;
  /**
   * The compared latency step: of the steps run right after halfLoad at half of the
   * *service's* best rate (the service: its own again), the one with the median p99. Both
   * targets so share one load and one history.
   */
  matchedLoad: StepResult;
  /** All the compared steps, in order. */
  matchedLoads: StepResult[];
  stopReason: string;
}

/** One idle-memory sample, after a full GC. */
export interface IdleMemoryPoint {
  /** Subscribers ready so far. */
  ready: number;
  rssKiB: number;
  /** V8 heap in use (process.memoryUsage().heapUsed); NaN when the inspector did not answer. */
  heapUsedKiB: number;
  /** V8 heap committed (heapTotal): in use plus what V8 keeps for growth. */
  heapTotalKiB: number;
}

/** Idle memory: RSS and V8 heap before, after the first quarter and after each later quarter of S connected and subscribed. */
export interface MemoryResult {
  subscribers: number;
  ready: number;
  rssBeforeKiB: number;
  /** After the first quarter. */
  rssMiddleKiB: number;
  rssAfterKiB: number;
  /** After the first quarter, then after each later quarter. */
  points: IdleMemoryPoint[];
  /** Marginal: slope of a least-squares line through `points` (RSS against ready subscribers). */
  perSubscriberKiB: number;
  /** The same from the first and last point only (how the figure was taken before the fit). */
  twoPointPerSubscriberKiB: number;
  /** Marginal V8 heap in use per subscriber, fitted like perSubscriberKiB. */
  heapPerSubscriberKiB: number;
  /** RSS growth over all S ÷ ready subscribers, one-off growth included. */
  wholeRunPerSubscriberKiB: number;
  connectSeconds: number;
  /** Every RSS read followed a full GC forced through the inspector. */
  afterFullGc: boolean;
}

/** Offline-detection lateness for one unrelated-key population. */
export interface LatenessResult {
  /** Unrelated long-TTL keys in the same Redis; null for the memory backend. */
  unrelatedKeys: number | null;
  devices: number;
  ttlSeconds: number;
  detected: number;
  /** Devices whose EXPIRED did not arrive within the cap (counted at the cap in the summary). */
  missed: number;
  capMs: number;
  lateness: LatencySummary;
  /** Smallest receipt − deadline seen (negative: EXPIRED arrived before the deadline). */
  earliestMs: number | null;
  /** CPU of the target and of the whole machine (all processes, % of one core) while waiting. */
  targetCpuPercent: number;
  machineCpuPercent: number;
  heartbeatFailures: number;
}

/** Redis traffic of an idle target over a quiet window. */
export interface IdleRedisResult {
  /** All commands per second (commandstats, includes commands inside scripts). */
  commandsPerSecond: number;
  /** Commands clients sent per second (MONITOR). */
  topLevelPerSecond: number;
  /** commandstats per command, per second. */
  breakdownPerSecond: Record<string, number>;
  /** How many users were watched (the device-socket holders). */
  watchedUsers: number;
  /** Client-sent commands per second that name a watched user (key hash tag or index member). */
  watchedTopLevelPerSecond: number;
  /** Script-internal commands per second that name a watched user. */
  watchedInternalPerSecond: number;
}

/** Redis traffic caused by heartbeats and by idle device sockets. */
export interface RedisCostResult {
  /** All commands per heartbeat (INFO commandstats, includes commands run inside scripts). */
  commandsPerHeartbeat: number;
  /** Commands the client sent per heartbeat (MONITOR, excluding script-internal calls): an upper bound on round trips. */
  topLevelCommandsPerHeartbeat: number;
  /** Per-command breakdown per heartbeat (commandstats). */
  breakdownPerHeartbeat: Record<string, number>;
  /** Top-level commands per heartbeat by name (MONITOR). */
  topLevelBreakdownPerHeartbeat: Record<string, number>;
  measuredHeartbeats: number;
  /**
   * Round trips per heartbeat, counted by a proxy in front of Redis for a separate probe
   * process that receives one heartbeat at a time (idle traffic subtracted). Null if the probe failed.
   */
  roundTripsPerHeartbeat: number | null;
  roundTripProbeHeartbeats: number;
  /** Round trips per heartbeat by shape (the commands pipelined into each, joined with `+`). */
  roundTripShapesPerHeartbeat: Record<string, number>;
  /** Idle traffic with subscribers connected but no device sockets (null if not measured). */
  idleWithoutDevices: IdleRedisResult | null;
  /** Idle traffic with `deviceSockets` device sockets open as well. */
  idleWithDevices: IdleRedisResult;
  deviceSockets: number;
  /**
   * While idle: client-sent commands naming a device socket's user, per socket per minute
   * (MONITOR). A batched refresh (one command for many sockets) counts once for all of them.
   */
  commandsPerDeviceSocketPerMinute: number | null;
  /** The same for commands run inside scripts. */
  scriptCommandsPerDeviceSocketPerMinute: number | null;
}

/** HTTP heartbeat throughput (closed loop). */
export interface HeartbeatResult {
  heartbeatsPerSec: number;
  ok: number;
  failed: number;
  concurrency: number;
  latency: LatencySummary;
  redis: RedisCostResult | null;
  errors: string[];
}

/** A function's share of the profile. */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

/** A CPU profile boiled down to where the time went. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  byFunction: ProfileEntry[];
  byModule: ProfileEntry[];
}

/** Everything measured for one target. */
export interface TargetResults {
  kind: TargetKind;
  fanout: FanoutResult | null;
  /**
   * The half-load steps taken in turns with the other target (both up at once, fresh),
   * in order; null when not run (one target only, or no fan-out phase).
   */
  interleaved: StepResult[] | null;
  memory: MemoryResult | null;
  lateness: LatenessResult[];
  heartbeat: HeartbeatResult | null;
  profile: ProfileSummary | null;
  errors: string[];
}

/** One printed figure with its baseline twin. */
export interface FigureRow {
  figure: string;
  unit: string;
  service: number | null;
  baseline: number | null;
  /** service / baseline. */
  ratio: number | null;
  target: string;
  /** null when there is no target or the figure is missing. */
  met: boolean | null;
  note: string;
}

/** The whole JSON file. */
export interface BenchResults {
  meta: {
    startedAt: string;
    finishedAt: string;
    durationSeconds: number;
    backend: Backend;
    subscribers: number;
    /** 1, 5 and 15 minute load averages when the run started (other work on the machine). */
    loadAverageAtStart: number[];
    options: Record<string, string | number | boolean>;
    machine: MachineInfo;
  };
  figures: FigureRow[];
  service: TargetResults | null;
  baseline: TargetResults | null;
}
