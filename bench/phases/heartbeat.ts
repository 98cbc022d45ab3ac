/**
 * HTTP heartbeats: throughput (closed loop) and, on the redis backend, what each heartbeat
 * costs in Redis commands.
 *
 * Order: every heartbeat user beats once (so the measured beats are the steady state, a TTL
 * extension that changes nothing anyone sees) → [redis] a quiet window to learn the
 * background command rate (with the publishers' device sockets open) → [redis] a fixed
 * number of beats under MONITOR and commandstats, background subtracted → [redis] round
 * trips, on a separate probe process behind a counting proxy → the throughput window
 * (without MONITOR, which would slow Redis).
 */
import { sleep } from '../infra/concurrency';
import { commandCalls, diffCommandCalls, openMonitor, type BenchRedis, type MonitorStream } from '../infra/redis';
import { RoundTripProxy } from '../infra/redis-proxy';
import { LatencyHistogram } from '../load/histogram';
import type { BenchUser } from '../load/protocol';
import { preciseNowMs } from '../load/wire';
import type { HeartbeatResult, IdleRedisResult, RedisCostResult } from '../report/results';
import type { RunningTarget } from '../targets';
import type { PhaseContext } from './context';

const HEARTBEAT_DEVICE = 'bench-heartbeat';
const IDLE_WINDOW_MS = 6_000;
const MEASURED_HEARTBEATS = 2_000;
const ROUND_TRIP_HEARTBEATS = 300;
/** Commands the bench itself sends to Redis, never charged to the target. */
const OWN_COMMANDS = new Set(['info', 'monitor', 'config', 'config|get', 'config|set', 'config|resetstat']);

/**
 * The users a command is about, by the key conventions of PRESENCE.md: a hash tag
 * `{<userId>}` in a key, or a `<userId>|<deviceId>` member of an index.
 */
function usersNamedBy(args: unknown[]): string[] {
  const users: string[] = [];
  for (const arg of args.slice(1)) {
    const text = String(arg);
    for (const match of text.matchAll(/\{([^}]+)\}/g)) if (match[1] !== undefined) users.push(match[1]);
    const bar = text.indexOf('|');
    if (bar > 0) users.push(text.slice(0, bar));
  }
  return users;
}

/** Counts top-level (client-sent) and script-internal commands seen by MONITOR. */
class MonitorTally {
  topLevel = new Map<string, number>();
  internal = 0;
  /** Top-level / script-internal commands that name at least one watched user. */
  watchedTopLevel = 0;
  watchedInternal = 0;
  counting = false;
  private watched = new Set<string>();

  private connection: MonitorStream | null = null;

  private count(args: string[], source: string): void {
    if (!this.counting) return;
    const name = (args[0] ?? '').toLowerCase();
    if (OWN_COMMANDS.has(name)) return;
    const watched = this.watched.size > 0 && usersNamedBy(args).some((user) => this.watched.has(user));
    if (source === 'lua') {
      this.internal += 1;
      if (watched) this.watchedInternal += 1;
    } else {
      this.topLevel.set(name, (this.topLevel.get(name) ?? 0) + 1);
      if (watched) this.watchedTopLevel += 1;
    }
  }

  /** Opens a MONITOR connection on the bench's Redis. */
  static async open(redis: BenchRedis): Promise<MonitorTally> {
    const tally = new MonitorTally();
    tally.connection = await openMonitor(redis.port, (args, source) => tally.count(args, source));
    return tally;
  }

  /** Starts a fresh count; commands naming one of `watched` are also counted apart. */
  start(watched: ReadonlySet<string> = new Set()): void {
    this.topLevel = new Map();
    this.internal = 0;
    this.watchedTopLevel = 0;
    this.watchedInternal = 0;
    this.watched = new Set(watched);
    this.counting = true;
  }

  /** Stops counting and returns the top-level total. */
  stop(): number {
    this.counting = false;
    return [...this.topLevel.values()].reduce((a, b) => a + b, 0);
  }

  close(): void {
    this.connection?.close();
  }
}

async function beatAll(context: PhaseContext, target: RunningTarget, users: BenchUser[]): Promise<void> {
  const shares = context.pool.split(users);
  const results = await Promise.all(
    shares.map((share, index) =>
      context.pool.call(index, { kind: 'heartbeatOnce', url: target.graphqlUrl, users: share, deviceId: HEARTBEAT_DEVICE, concurrency: 8 }),
    ),
  );
  const failed = results.reduce((sum, r) => sum + r.receipts.filter((x) => !x.ok).length, 0);
  if (failed > 0) throw new Error(`${failed} warm-up heartbeats failed: ${results.flatMap((r) => r.firstErrors).slice(0, 3).join(' | ')}`);
}

async function loadHeartbeats(
  context: PhaseContext,
  target: RunningTarget,
  users: BenchUser[],
  concurrency: number,
  durationMs: number,
  maxRequests: number,
): Promise<{ ok: number; failed: number; elapsedMs: number; histogram: LatencyHistogram; errors: string[] }> {
  const shares = context.pool.split(users);
  const perWorker = Math.max(1, Math.round(concurrency / shares.length));
  const results = await Promise.all(
    shares.map((share, index) =>
      context.pool.call(index, {
        kind: 'heartbeatLoad',
        url: target.graphqlUrl,
        users: share,
        deviceId: HEARTBEAT_DEVICE,
        concurrency: perWorker,
        durationMs,
        maxRequests: Math.ceil(maxRequests / shares.length),
      }),
    ),
  );
  const histogram = new LatencyHistogram();
  for (const r of results) histogram.merge(r.histogram);
  return {
    ok: results.reduce((sum, r) => sum + r.ok, 0),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    histogram,
    errors: results.flatMap((r) => r.firstErrors).slice(0, 5),
  };
}

/**
 * Redis traffic over a quiet window of `ms`: commandstats (everything, scripts included) and
 * MONITOR (what clients sent, and how much of it names one of `watchedUsers`). The bench's
 * own INFO/CONFIG/MONITOR calls are left out.
 */
export async function measureRedisIdle(
  redis: BenchRedis,
  watchedUsers: ReadonlySet<string> = new Set(),
  ms = IDLE_WINDOW_MS,
): Promise<IdleRedisResult> {
  const monitor = await MonitorTally.open(redis);
  try {
    monitor.start(watchedUsers);
    const before = await commandCalls(redis.admin);
    const start = preciseNowMs();
    await sleep(ms);
    const after = await commandCalls(redis.admin);
    const seconds = (preciseNowMs() - start) / 1000;
    const topLevel = monitor.stop();
    const breakdownPerSecond: Record<string, number> = {};
    for (const [name, count] of diffCommandCalls(before, after)) breakdownPerSecond[name] = count / seconds;
    return {
      commandsPerSecond: Object.values(breakdownPerSecond).reduce((a, b) => a + b, 0),
      topLevelPerSecond: topLevel / seconds,
      breakdownPerSecond,
      watchedUsers: watchedUsers.size,
      watchedTopLevelPerSecond: monitor.watchedTopLevel / seconds,
      watchedInternalPerSecond: monitor.watchedInternal / seconds,
    };
  } finally {
    monitor.close();
  }
}

/** Commands per heartbeat, background subtracted, for `MEASURED_HEARTBEATS` beats 8 at a time. */
async function measureCommandsPerHeartbeat(
  context: PhaseContext,
  target: RunningTarget,
  redis: BenchRedis,
  users: BenchUser[],
  idle: IdleRedisResult,
  idleTopLevel: Map<string, number>,
): Promise<Pick<RedisCostResult, 'commandsPerHeartbeat' | 'topLevelCommandsPerHeartbeat' | 'breakdownPerHeartbeat' | 'topLevelBreakdownPerHeartbeat' | 'measuredHeartbeats'>> {
  const monitor = await MonitorTally.open(redis);
  try {
    monitor.start();
    const before = await commandCalls(redis.admin);
    const start = preciseNowMs();
    const run = await loadHeartbeats(context, target, users, 8, 60_000, MEASURED_HEARTBEATS);
    const after = await commandCalls(redis.admin);
    const seconds = (preciseNowMs() - start) / 1000;
    monitor.stop();
    if (run.ok === 0) throw new Error(`no heartbeat succeeded while counting Redis commands: ${run.errors.join(' | ')}`);
    const breakdownPerHeartbeat: Record<string, number> = {};
    for (const [name, count] of diffCommandCalls(before, after)) {
      const perBeat = (count - (idle.breakdownPerSecond[name] ?? 0) * seconds) / run.ok;
      if (perBeat > 0.005) breakdownPerHeartbeat[name] = perBeat;
    }
    const topLevelBreakdownPerHeartbeat: Record<string, number> = {};
    for (const [name, count] of monitor.topLevel) {
      const perBeat = (count - (idleTopLevel.get(name) ?? 0) * seconds) / run.ok;
      if (perBeat > 0.005) topLevelBreakdownPerHeartbeat[name] = perBeat;
    }
    return {
      commandsPerHeartbeat: Object.values(breakdownPerHeartbeat).reduce((a, b) => a + b, 0),
      topLevelCommandsPerHeartbeat: Object.values(topLevelBreakdownPerHeartbeat).reduce((a, b) => a + b, 0),
      breakdownPerHeartbeat,
      topLevelBreakdownPerHeartbeat,
      measuredHeartbeats: run.ok,
    };
  } finally {
    monitor.close();
  }
}

/** Top-level commands per second by name during a quiet window (for subtracting background). */
async function idleTopLevelRates(redis: BenchRedis, ms: number): Promise<Map<string, number>> {
  const monitor = await MonitorTally.open(redis);
  try {
    monitor.start();
    const start = preciseNowMs();
    await sleep(ms);
    const seconds = (preciseNowMs() - start) / 1000;
    monitor.stop();
    return new Map([...monitor.topLevel].map(([name, count]) => [name, count / seconds]));
  } finally {
    monitor.close();
  }
}

/**
 * Starts a second target process whose Redis connection goes through a {@link RoundTripProxy},
 * sends it heartbeats one at a time from one worker, and returns round trips per heartbeat
 * (the probe's own idle flights subtracted).
 */
async function measureRoundTrips(
  context: PhaseContext,
  redis: BenchRedis,
  users: BenchUser[],
  startProbe: (redisUrl: string) => Promise<RunningTarget>,
): Promise<{ perHeartbeat: number; heartbeats: number; shapes: Record<string, number> }> {
  const proxy = await RoundTripProxy.start(redis.port);
  try {
    const probe = await startProbe(proxy.url);
    try {
      const sample = users.slice(0, ROUND_TRIP_HEARTBEATS);
      await beatAll(context, probe, sample);
      await sleep(500);
      proxy.reset();
      const idleStart = preciseNowMs();
      await sleep(3_000);
      const idleSeconds = (preciseNowMs() - idleStart) / 1000;
      const idleShapes = proxy.flightShapes();
      proxy.reset();
      const start = preciseNowMs();
      const run = await context.pool.call(0, {
        kind: 'heartbeatLoad',
        url: probe.graphqlUrl,
        users: sample,
        deviceId: HEARTBEAT_DEVICE,
        concurrency: 1,
        durationMs: 30_000,
        maxRequests: sample.length,
      });
      const seconds = (preciseNowMs() - start) / 1000;
      if (run.ok === 0) throw new Error(`round-trip probe: no heartbeat succeeded: ${run.firstErrors.join(' | ')}`);
      // Per flight shape, what the heartbeats added over the idle rate of the same shape. A
      // background command that rode along in a heartbeat's flight makes a new shape, so
      // summing the positive excesses counts every heartbeat round trip exactly once.
      const shapes: Record<string, number> = {};
      let perHeartbeat = 0;
      for (const [shape, count] of proxy.flightShapes()) {
        const perBeat = (count - ((idleShapes.get(shape) ?? 0) / idleSeconds) * seconds) / run.ok;
        if (perBeat > 0) perHeartbeat += perBeat;
        if (perBeat > 0.02) shapes[shape] = perBeat;
      }
      return { perHeartbeat, heartbeats: run.ok, shapes };
    } finally {
      await probe.stop();
    }
  } finally {
    await proxy.stop();
  }
}

/** Everything Redis-side about heartbeats and idle sockets (see the module comment for the order). */
async function measureRedisCost(
  context: PhaseContext,
  target: RunningTarget,
  redis: BenchRedis,
  users: BenchUser[],
  deviceUsers: ReadonlySet<string>,
  idleWithoutDevices: IdleRedisResult | null,
  startProbe: (redisUrl: string) => Promise<RunningTarget>,
): Promise<RedisCostResult> {
  const deviceSockets = deviceUsers.size;
  const idleWithDevices = await measureRedisIdle(redis, deviceUsers);
  const idleTopLevel = await idleTopLevelRates(redis, 2_000);
  const commands = await measureCommandsPerHeartbeat(context, target, redis, users, idleWithDevices, idleTopLevel);
  let roundTrips: { perHeartbeat: number; heartbeats: number; shapes: Record<string, number> } | null = null;
  try {
    roundTrips = await measureRoundTrips(context, redis, users, startProbe);
  } catch (error) {
    context.log(`  round-trip probe failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    ...commands,
    roundTripsPerHeartbeat: roundTrips?.perHeartbeat ?? null,
    roundTripProbeHeartbeats: roundTrips?.heartbeats ?? 0,
    roundTripShapesPerHeartbeat: roundTrips?.shapes ?? {},
    idleWithoutDevices,
    idleWithDevices,
    deviceSockets,
    commandsPerDeviceSocketPerMinute: deviceSockets > 0 ? (idleWithDevices.watchedTopLevelPerSecond * 60) / deviceSockets : null,
    scriptCommandsPerDeviceSocketPerMinute: deviceSockets > 0 ? (idleWithDevices.watchedInternalPerSecond * 60) / deviceSockets : null,
  };
}

/** How the heartbeat phase reaches Redis (redis backend only). */
export interface HeartbeatRedisAccess {
  redis: BenchRedis;
  /** Users holding one device socket each on the target during the idle window (the fan-out publishers). */
  deviceUsers: ReadonlySet<string>;
  /** The idle window measured before any device socket was open, if it was. */
  idleWithoutDevices: IdleRedisResult | null;
  /** Starts a second target of the same kind on `redisUrl` (the round-trip probe). */
  startProbe: (redisUrl: string) => Promise<RunningTarget>;
}

/** Runs the heartbeat phase against a running target (see the module comment for the order). */
export async function measureHeartbeats(
  context: PhaseContext,
  target: RunningTarget,
  users: BenchUser[],
  redisAccess: HeartbeatRedisAccess | undefined,
): Promise<HeartbeatResult> {
  await beatAll(context, target, users);
  const redisCost =
    redisAccess === undefined
      ? null
      : await measureRedisCost(
          context,
          target,
          redisAccess.redis,
          users,
          redisAccess.deviceUsers,
          redisAccess.idleWithoutDevices,
          redisAccess.startProbe,
        );
  const concurrency = context.options.heartbeatConcurrency;
  const run = await loadHeartbeats(context, target, users, concurrency, context.options.heartbeatSeconds * 1000, Number.MAX_SAFE_INTEGER);
  return {
    heartbeatsPerSec: run.ok / (run.elapsedMs / 1000),
    ok: run.ok,
    failed: run.failed,
    concurrency,
    latency: run.histogram.summary(),
    redis: redisCost,
    errors: run.errors,
  };
}
