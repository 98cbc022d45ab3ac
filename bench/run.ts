/**
 * `npm run bench -- --backend memory|redis --subscribers N`
 *
 * Measures the presence service and the raw `ws` baseline side by side, in one run, with the
 * same load generator (child processes), and prints every figure of issue 6 with its
 * baseline and ratio. Writes `bench/results/<date>-<backend>.json`, `.md` and `.png`.
 *
 * Order: build → load workers start → for the baseline, then the service: its own
 * redis-server (redis backend) and process, contacts, idle memory, fan-out steps, heartbeats,
 * stop → lateness (one redis-server filled with 100k, then 1M unrelated keys; a fresh target
 * process per measurement) → report. Asserts nothing: a benchmark prints, tests assert.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeMachine } from './infra/machine';
import { fillUnrelatedKeys, startBenchRedis, type BenchRedis } from './infra/redis';
import { mintToken } from './infra/tokens';
import { WorkerPool } from './load/pool';
import type { BenchUser } from './load/protocol';
import { parseOptions, type BenchOptions } from './options';
import { connectSubscribersEverywhere, type PhaseContext } from './phases/context';
import { measureIdleMemory, runFanout, runInterleaved, type InterleavedSide } from './phases/fanout';
import { measureHeartbeats, measureRedisIdle } from './phases/heartbeat';
import type { IdleRedisResult } from './report/results';
import { latenessIds, measureLateness, type LatenessPopulation } from './phases/lateness';
import { benchUsers, latticeContacts, publisherIndices, subscriberId, applyContacts, CONTACTS_PER_USER } from './population';
import { writeChartPng } from './report/chart';
import { buildFigures } from './report/figures';
import { summarizeNewestProfile } from './report/profile';
import type { BenchResults, TargetResults } from './report/results';
import { renderMarkdownTable, renderTerminalTable } from './report/table';
import { REPO_ROOT, serviceIsBuilt, startTarget, type RunningTarget, type TargetKind } from './targets';

const HEARTBEAT_USERS = 1000;
const UNRELATED_KEY_COUNTS = [100_000, 1_000_000];

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Builds the service; returns a reason when it cannot be measured. */
function prepareService(options: BenchOptions): string | null {
  if (options.build) {
    log('building the service (npm run build)…');
    const build = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
    if (build.status !== 0) {
      return `npm run build failed: ${`${build.stdout}\n${build.stderr}`.trim().split('\n').slice(-8).join('\n')}`;
    }
  }
  return serviceIsBuilt() ? null : 'dist/src/index.js does not exist (service not built)';
}

interface MainPopulation {
  subscribers: BenchUser[];
  publishers: BenchUser[];
  heartbeatUsers: BenchUser[];
}

/** Gives every subscriber its 20 lattice contacts on `target` (one admin call per batch). */
async function setLatticeContacts(context: PhaseContext, target: RunningTarget, subscribers: BenchUser[]): Promise<void> {
  await applyContacts(
    target.graphqlUrl,
    context.adminToken,
    subscribers.map((u, i) => [u.userId, latticeContacts(i, subscribers.length)] as const),
  );
}

async function measureMainPhases(
  context: PhaseContext,
  kind: TargetKind,
  population: MainPopulation,
  runId: string,
  matchedEventsPerSec: number | null,
): Promise<TargetResults> {
  const { options } = context;
  const result: TargetResults = { kind, fanout: null, interleaved: null, memory: null, lateness: [], heartbeat: null, profile: null, errors: [] };
  const wantsSockets = options.phases.has('memory') || options.phases.has('fanout');
  if (!wantsSockets && !options.phases.has('heartbeat')) return result;
  const record = (phase: string, error: unknown): void => {
    const message = `${phase}: ${errorText(error)}`;
    result.errors.push(message);
    log(`  ${kind} ${message}`);
  };
  let redis: BenchRedis | undefined;
  const profileDir = options.profile ? path.join(options.outDir, 'profiles', runId, kind) : undefined;
  try {
    redis = options.backend === 'redis' ? await startBenchRedis(`redis-${kind}-main`, context.logDir) : undefined;
    const target = await startTarget({
      kind,
      name: `${kind}-main`,
      secret: context.secret,
      redisUrl: redis?.url,
      logDir: context.logDir,
      profileDir,
      nodeArgs: options.serviceNodeArgs,
    });
    log(`${kind}: started (pid ${target.process.pid}), setting contacts for ${population.subscribers.length} users…`);
    let idleWithoutDevices: IdleRedisResult | null = null;
    try {
      const total = population.subscribers.length;
      await setLatticeContacts(context, target, population.subscribers);
      if (wantsSockets) {
        log(`${kind}: connecting ${total} subscribers…`);
        try {
          const heapDir = options.heapSnapshots ? path.join(options.outDir, 'profiles', runId, kind) : undefined;
          result.memory = await measureIdleMemory(context, target, population.subscribers, heapDir);
          log(`${kind}: ${result.memory.ready} ready in ${result.memory.connectSeconds.toFixed(1)} s, ${result.memory.perSubscriberKiB.toFixed(1)} KiB RSS per idle subscriber (fitted over the last 3/4; two samples: ${result.memory.twoPointPerSubscriberKiB.toFixed(1)}; over all: ${result.memory.wholeRunPerSubscriberKiB.toFixed(1)}), V8 heap ${result.memory.heapPerSubscriberKiB.toFixed(1)} KiB`);
        } catch (error) {
          record('memory', error);
        }
        if (redis !== undefined && options.phases.has('heartbeat')) {
          try {
            idleWithoutDevices = await measureRedisIdle(redis);
          } catch (error) {
            record('idle redis', error);
          }
        }
        if (options.phases.has('fanout') && result.memory !== null) {
          log(`${kind}: fan-out steps with ${population.publishers.length} publishers…`);
          try {
            result.fanout = await runFanout(context, target, redis?.process, total, population.publishers, matchedEventsPerSec);
          } catch (error) {
            record('fanout', error);
          }
        }
      }
      if (options.phases.has('heartbeat')) {
        log(`${kind}: heartbeats over HTTP…`);
        try {
          const redisAccess =
            redis === undefined
              ? undefined
              : {
                  redis,
                  deviceUsers: new Set(result.fanout ? population.publishers.map((p) => p.userId) : []),
                  idleWithoutDevices,
                  startProbe: (redisUrl: string) =>
                    startTarget({ kind, name: `${kind}-roundtrip-probe`, secret: context.secret, redisUrl, logDir: context.logDir }),
                };
          result.heartbeat = await measureHeartbeats(context, target, population.heartbeatUsers, redisAccess);
          const cost = result.heartbeat.redis;
          log(
            `${kind}: ${Math.round(result.heartbeat.heartbeatsPerSec)} heartbeats/s` +
              (cost ? `, per heartbeat ${cost.commandsPerHeartbeat.toFixed(2)} Redis commands, ${cost.roundTripsPerHeartbeat?.toFixed(2) ?? 'n/a'} round trips` : ''),
          );
        } catch (error) {
          record('heartbeat', error);
        }
      }
    } finally {
      // Stop the server before the clients close, so TIME_WAIT lands on the server's side
      // and large runs do not run out of client ports.
      await target.stop();
      await context.pool.broadcast({ kind: 'closeAll' });
      if (target.process.tailLog(5).match(/error/i)) log(`${kind}: its log mentions errors, see ${target.process.logFile}`);
    }
  } catch (error) {
    record('start', error);
  } finally {
    await redis?.stop();
  }
  if (profileDir !== undefined) result.profile = summarizeNewestProfile(profileDir, REPO_ROOT);
  return result;
}

/**
 * The rate of the half-load comparison in turns: half the lower of the two best rates, so
 * neither target runs above half its own capacity and the p99s compare two unsaturated
 * servers. (Half the service's best alone put the baseline past its own best once the
 * service's throughput passed the baseline's: a ratio against an overloaded server.) Null
 * when either target has no best rate.
 */
function inTurnsRate(serviceBest: number | undefined, baselineBest: number | undefined): number | null {
  if (serviceBest === undefined || baselineBest === undefined || serviceBest <= 0 || baselineBest <= 0) return null;
  return Math.min(serviceBest, baselineBest) / 2;
}

/**
 * The half-load comparison in turns (runInterleaved): both targets started afresh, each on
 * its own Redis for the Redis backend, contacts set and all subscribers connected to both,
 * then alternating steps at `eventsPerSec` (inTurnsRate). Each side's steps go into its
 * results; a failure is recorded on both.
 */
async function measureInterleaved(context: PhaseContext, population: MainPopulation, results: Map<TargetKind, TargetResults>, eventsPerSec: number): Promise<void> {
  const kinds: TargetKind[] = ['service', 'baseline'];
  const started: Array<{ kind: TargetKind; redis?: BenchRedis; target?: RunningTarget }> = [];
  log(`interleaved half-load steps at ${Math.round(eventsPerSec)} ev/s: starting both targets afresh…`);
  try {
    const sides: InterleavedSide[] = [];
    for (const kind of kinds) {
      const entry: (typeof started)[number] = { kind };
      started.push(entry);
      entry.redis = context.options.backend === 'redis' ? await startBenchRedis(`redis-${kind}-interleaved`, context.logDir) : undefined;
      entry.target = await startTarget({ kind, name: `${kind}-interleaved`, secret: context.secret, redisUrl: entry.redis?.url, logDir: context.logDir, nodeArgs: kind === 'service' ? context.options.serviceNodeArgs : [] });
      const total = population.subscribers.length;
      await setLatticeContacts(context, entry.target, population.subscribers);
      const connected = await connectSubscribersEverywhere(
        context,
        entry.target.wsUrl,
        population.subscribers.map((user) => ({ ...user, expectedInitial: CONTACTS_PER_USER })),
      );
      if (connected.ready < total) throw new Error(`${kind}: ${connected.ready}/${total} subscribers ready: ${connected.firstErrors.join(' | ')}`);
      sides.push({ target: entry.target, redis: entry.redis?.process, publishers: population.publishers, population: kind });
    }
    const steps = await runInterleaved(context, sides, eventsPerSec);
    kinds.forEach((kind, i) => {
      const target = results.get(kind);
      if (target) target.interleaved = steps[i] ?? null;
    });
  } catch (error) {
    for (const kind of kinds) results.get(kind)?.errors.push(`interleaved: ${errorText(error)}`);
    log(`  interleaved steps failed: ${errorText(error)}`);
  } finally {
    for (const entry of started) await entry.target?.stop();
    await context.pool.broadcast({ kind: 'closeAll' });
    for (const entry of started) await entry.redis?.stop();
  }
}

async function measureLatenessPhases(context: PhaseContext, kinds: TargetKind[], results: Map<TargetKind, TargetResults>): Promise<Array<number | null>> {
  let runs = 0;
  const run = async (kind: TargetKind, redisUrl: string | undefined, keys: number | null): Promise<void> => {
    runs += 1;
    const ids = latenessIds(context.options.expiringDevices, String(runs));
    const population: LatenessPopulation = {
      expiring: await benchUsers(context.secret, ids.expiring),
      watchers: await benchUsers(context.secret, ids.watchers),
    };
    log(`${kind}: offline lateness, ${ids.expiring.length} devices, ${keys === null ? 'memory backend' : `${keys.toLocaleString('en-US')} unrelated keys`}…`);
    try {
      const lateness = await measureLateness(context, kind, population, redisUrl, keys);
      results.get(kind)?.lateness.push(lateness);
      log(
        `  ${kind}: p50 ${lateness.lateness.p50Ms.toFixed(0)} p99 ${lateness.lateness.p99Ms.toFixed(0)} max ${lateness.lateness.maxMs.toFixed(0)} ms, ` +
          `${lateness.missed} missed (cpu target ${lateness.targetCpuPercent.toFixed(0)} %, machine ${lateness.machineCpuPercent.toFixed(0)} % of a core)`,
      );
    } catch (error) {
      results.get(kind)?.errors.push(`lateness ${String(keys)}: ${errorText(error)}`);
      log(`  ${kind} lateness failed: ${errorText(error)}`);
    }
  };
  if (context.options.backend === 'memory') {
    for (const kind of kinds) await run(kind, undefined, null);
    return [null];
  }
  const redis = await startBenchRedis('redis-lateness', context.logDir);
  try {
    let filled = 0;
    for (const keys of UNRELATED_KEY_COUNTS) {
      log(`filling the lateness Redis to ${keys.toLocaleString('en-US')} unrelated keys…`);
      await fillUnrelatedKeys(redis.admin, filled, keys);
      filled = keys;
      for (const kind of kinds) await run(kind, redis.url, keys);
    }
  } finally {
    await redis.stop();
  }
  return UNRELATED_KEY_COUNTS;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), path.join(__dirname, 'results'));
  const startedAt = new Date();
  const runId = startedAt.toISOString().replace(/[:.]/g, '-');
  const logDir = path.join(os.tmpdir(), `presence-bench-${runId}`);
  const machine = describeMachine();
  const loadAverageAtStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
  if ((loadAverageAtStart[0] ?? 0) > 0.5) {
    log(`note: load average is ${loadAverageAtStart.join(' ')} before the run; other work on this machine will show up as noise (OTHER % per step)`);
  }
  log(`presence bench: backend ${options.backend}, ${options.subscribers} subscribers, targets ${options.targets.join('+')}; logs in ${logDir}`);
  if (machine.openFilesLimit > 0 && options.subscribers + 1_000 > machine.openFilesLimit) {
    throw new Error(
      `--subscribers ${options.subscribers} needs more open files than 'ulimit -n' (${machine.openFilesLimit}) allows the server process; raise the limit or lower --subscribers`,
    );
  }
  // The service goes first: the baseline then also runs a step at half the service's best rate.
  const kinds = (['service', 'baseline'] as const).filter((kind) => options.targets.includes(kind)) as TargetKind[];
  const skipped: string[] = [];
  if (kinds.includes('service')) {
    const reason = prepareService(options);
    if (reason !== null) {
      skipped.push(`service not measured: ${reason}`);
      log(`service skipped: ${reason}`);
      kinds.splice(kinds.indexOf('service'), 1);
    }
  }
  const pool = await WorkerPool.start(options.workers);
  const secret = randomBytes(32).toString('hex');
  const context: PhaseContext = { options, pool, secret, adminToken: await mintToken(secret, 'bench-admin', true), logDir, log };
  const results = new Map<TargetKind, TargetResults>();
  let latenessKeys: Array<number | null> = [];
  try {
    const subscriberIds = Array.from({ length: options.subscribers }, (_, i) => subscriberId(i));
    const subscribers = await benchUsers(secret, subscriberIds);
    const population: MainPopulation = {
      subscribers,
      publishers: publisherIndices(options.subscribers, options.publishers).map((i) => subscribers[i] as BenchUser),
      heartbeatUsers: await benchUsers(secret, Array.from({ length: HEARTBEAT_USERS }, (_, i) => `h${i}`)),
    };
    for (const kind of kinds) {
      const serviceBest = results.get('service')?.fanout?.best?.offeredEventsPerSec;
      const matched = kind === 'baseline' && serviceBest !== undefined ? serviceBest / 2 : null;
      results.set(kind, await measureMainPhases(context, kind, population, runId, matched));
    }
    const inTurns = inTurnsRate(results.get('service')?.fanout?.best?.offeredEventsPerSec, results.get('baseline')?.fanout?.best?.offeredEventsPerSec);
    if (inTurns !== null) await measureInterleaved(context, population, results, inTurns);
    if (options.phases.has('lateness') && kinds.length > 0) latenessKeys = await measureLatenessPhases(context, kinds, results);
  } finally {
    await pool.stop();
  }

  const finishedAt = new Date();
  const service = results.get('service') ?? null;
  const baseline = results.get('baseline') ?? null;
  if (service === null && skipped.length > 0) {
    // Keep the reason in the JSON, where readers of the figures will look for it.
    for (const reason of skipped) baseline?.errors.push(reason);
  }
  const report: BenchResults = {
    meta: {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      backend: options.backend,
      subscribers: options.subscribers,
      loadAverageAtStart,
      options: {
        workers: options.workers,
        publishers: options.publishers,
        stepSeconds: options.stepSeconds,
        halfLoadSeconds: options.halfLoadSeconds,
        startEventsPerSec: options.startEventsPerSec,
        stepFactor: options.stepFactor,
        p99LimitMs: options.p99LimitMs,
        expiringDevices: options.expiringDevices,
        latenessCapSeconds: options.latenessCapSeconds,
        heartbeatSeconds: options.heartbeatSeconds,
        heartbeatConcurrency: options.heartbeatConcurrency,
        phases: [...options.phases].join(','),
        targets: kinds.join(','),
      },
      machine,
    },
    figures: buildFigures(service, baseline, latenessKeys),
    service,
    baseline,
  };
  fs.mkdirSync(options.outDir, { recursive: true });
  // A run that measured only one target must not replace the last side-by-side results.
  const partial = kinds.length === 1 ? `-${kinds[0]}-only` : kinds.length === 0 ? '-nothing' : '';
  const base = path.join(options.outDir, `${startedAt.toISOString().slice(0, 10)}-${options.backend}${partial}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, `${renderMarkdownTable(report)}\n`);
  try {
    await writeChartPng(report, `${base}.png`);
  } catch (error) {
    log(`chart not written: ${errorText(error)}`);
  }
  process.stdout.write(`\n${renderTerminalTable(report)}\n`);
  for (const target of [service, baseline]) {
    for (const error of target?.errors ?? []) process.stdout.write(`${target?.kind}: ${error}\n`);
    if (target?.profile) {
      process.stdout.write(`\n${target.kind} CPU profile (${target.profile.file}, ${target.profile.totalMs} ms busy), top self time:\n`);
      for (const entry of target.profile.byModule.slice(0, 10)) process.stdout.write(`  ${entry.percent.toFixed(1).padStart(5)} %  ${entry.name}\n`);
      process.stdout.write('  by function:\n');
      for (const entry of target.profile.byFunction.slice(0, 15)) process.stdout.write(`  ${entry.percent.toFixed(1).padStart(5)} %  ${entry.name}\n`);
    }
  }
  for (const reason of skipped) process.stdout.write(`${reason}\n`);
  process.stdout.write(`\nwrote ${path.relative(REPO_ROOT, base)}.{json,md,png} in ${Math.round(report.meta.durationSeconds)} s\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${errorText(error)}\n`);
    process.exit(1);
  },
);
