/**
 * Idle memory per subscriber, then stepped fan-out load.
 *
 * Order of events for one target: S subscribers connect and subscribe, a quarter at a time
 * (RSS and V8 heap sampled before and after each quarter) → P publishers connect with a
 * device → a warm-up step → steps at increasing offered rates until one fails (p99 above the
 * limit, or under 99 % delivered) → refinement steps between the last passing and the first
 * failing rate → a longer step at half the best passing rate → three more, the compared ones:
 * for the baseline at half the *service's* best rate, so the latency ratio compares equal
 * loads with the same history.
 */
import fs from 'node:fs';
import path from 'node:path';
import { linearRegression } from 'simple-statistics';
import { sleep, waitUntil } from '../infra/concurrency';
import { collectGarbage, memoryUsage, writeHeapSnapshot } from '../infra/inspector';
import { machineCpu, sampleRssKiB, type ManagedProcess } from '../infra/processes';
import { LatencyHistogram } from '../load/histogram';
import { preciseNowMs } from '../load/wire';
import { CONTACTS_PER_USER } from '../population';
import { medianP99Step } from '../report/figures';
import type { FanoutResult, IdleMemoryPoint, MemoryResult, StepResult } from '../report/results';
import type { RunningTarget } from '../targets';
import type { BenchUser } from '../load/protocol';
import { clientCpuMs, connectPublishersEverywhere, connectSubscribersEverywhere, type PhaseContext } from './context';

/** Idle-memory samples after the first quarter and after each later quarter of S connects. */
const MEASURED_BATCHES = 3;

/** The slope (per subscriber) of a least-squares line through (ready subscribers, KiB). */
function slopePerSubscriber(points: IdleMemoryPoint[], kiB: (point: IdleMemoryPoint) => number): number {
  if (points.length < 2) return Number.NaN;
  return linearRegression(points.map((point) => [point.ready, kiB(point)])).m;
}

/**
 * Connects every subscriber (each expecting 20 INITIAL events), a quarter first and then the
 * rest a quarter at a time, and reports the RSS growth of the target per ready subscriber
 * after the first quarter: the marginal cost of one more idle subscriber, as the slope of a
 * least-squares line through the four samples (after the first quarter and each later one).
 * The first quarter also pays one-off growth (V8 sizing its heap for the connect burst, code
 * compiled on first use), which moves by several MiB between identical runs; the whole-run
 * figure is kept too. One sample's RSS can be off by a MiB or two (where malloc and V8 happen
 * to have grown); a slope over four samples moves less than a two-sample difference. The V8
 * heap in use is fitted the same way, as a figure without the allocators' slack. The
 * subscribers stay connected for the fan-out steps. With `heapDir`, a heap snapshot follows
 * the first and the last sample (idle-quarter, idle-all).
 */
export async function measureIdleMemory(context: PhaseContext, target: RunningTarget, subscribers: BenchUser[], heapDir?: string): Promise<MemoryResult> {
  const settled = async (ready: number, snapshotName?: string): Promise<IdleMemoryPoint & { collected: boolean }> => {
    await sleep(1_000);
    const collected = await collectGarbage(target.inspectPort);
    const rssKiB = await sampleRssKiB(target.process);
    const { heapUsed, heapTotal } = await memoryUsage(target.inspectPort).catch(() => ({ heapUsed: Number.NaN, heapTotal: Number.NaN }));
    if (heapDir !== undefined && snapshotName !== undefined) {
      fs.mkdirSync(heapDir, { recursive: true });
      const file = path.join(heapDir, `${snapshotName}.heapsnapshot`);
      await writeHeapSnapshot(target.inspectPort, file);
      context.log(`  heap snapshot: ${file}`);
    }
    return { ready, rssKiB, heapUsedKiB: heapUsed / 1024, heapTotalKiB: heapTotal / 1024, collected };
  };
  const connect = async (users: BenchUser[]) => {
    const connected = await connectSubscribersEverywhere(
      context,
      target.wsUrl,
      users.map((user) => ({ ...user, expectedInitial: CONTACTS_PER_USER })),
    );
    if (connected.failed > 0 || connected.ready < connected.acked) {
      context.log(
        `  subscribers: ${connected.acked} acked, ${connected.ready} ready, ${connected.failed} failed: ${connected.firstErrors.join(' | ')}`,
      );
    }
    if (connected.acked === 0) throw new Error(`no subscriber could connect: ${connected.firstErrors.join(' | ')}`);
    await sleep(1_000);
    return connected;
  };
  // The first quarter absorbs the one-off growth; the other three quarters are measured.
  const quarter = Math.ceil(subscribers.length / 4);
  const before = await settled(0);
  const first = await connect(subscribers.slice(0, quarter));
  let ready = first.ready;
  let connectMs = first.elapsedMs;
  const samples = [await settled(ready, 'idle-quarter')];
  const batch = Math.ceil((subscribers.length - quarter) / MEASURED_BATCHES);
  for (let from = quarter; from < subscribers.length; from += batch) {
    const connected = await connect(subscribers.slice(from, from + batch));
    ready += connected.ready;
    connectMs += connected.elapsedMs;
    samples.push(await settled(ready, from + batch >= subscribers.length ? 'idle-all' : undefined));
  }
  const middle = samples[0] as IdleMemoryPoint;
  const after = samples[samples.length - 1] as IdleMemoryPoint;
  const points = samples.map(({ ready: r, rssKiB, heapUsedKiB, heapTotalKiB }) => ({ ready: r, rssKiB, heapUsedKiB, heapTotalKiB }));
  return {
    subscribers: subscribers.length,
    ready,
    rssBeforeKiB: before.rssKiB,
    rssMiddleKiB: middle.rssKiB,
    rssAfterKiB: after.rssKiB,
    points,
    perSubscriberKiB: slopePerSubscriber(points, (point) => point.rssKiB),
    twoPointPerSubscriberKiB: (after.rssKiB - middle.rssKiB) / Math.max(1, ready - middle.ready),
    heapPerSubscriberKiB: slopePerSubscriber(points, (point) => point.heapUsedKiB),
    wholeRunPerSubscriberKiB: (after.rssKiB - before.rssKiB) / Math.max(1, ready),
    connectSeconds: connectMs / 1000,
    afterFullGc: before.collected && samples.every((sample) => sample.collected),
  };
}

interface StepPlan {
  step: number;
  label: StepResult['label'];
  eventsPerSec: number;
  durationMs: number;
  /** The workers' publisher set to send from (default 'main'). */
  population?: string;
}

/** Runs one step on every worker and gathers its receipts (bounded drain). */
async function runOneStep(
  context: PhaseContext,
  target: RunningTarget,
  redis: ManagedProcess | undefined,
  publishersPerWorker: number[],
  plan: StepPlan,
): Promise<StepResult> {
  const totalPublishers = publishersPerWorker.reduce((a, b) => a + b, 0);
  const publishesPerSec = plan.eventsPerSec / CONTACTS_PER_USER;
  const targetCpuBefore = target.process.cpuMs();
  const redisCpuBefore = redis?.cpuMs() ?? 0;
  const machineBefore = machineCpu();
  const clientCpuBefore = await clientCpuMs(context);
  const startedAt = preciseNowMs();
  const runs = await Promise.all(
    publishersPerWorker.map((count, index) =>
      context.pool.call(index, {
        kind: 'runStep',
        population: plan.population,
        step: plan.step,
        publishesPerSecond: (publishesPerSec * count) / Math.max(1, totalPublishers),
        durationMs: plan.durationMs,
      }),
    ),
  );
  const sent = runs.reduce((sum, r) => sum + r.sent, 0);
  const expected = sent * CONTACTS_PER_USER;
  const receivedSoFar = async (): Promise<number> => {
    const peeks = await context.pool.broadcast({ kind: 'peekStep', step: plan.step });
    return peeks.reduce((sum, p) => sum + p.received, 0);
  };
  await waitUntil(async () => (await receivedSoFar()) >= expected, 5_000, 50);
  const collected = await context.pool.broadcast({ kind: 'collectStep', step: plan.step });
  const finishedAt = preciseNowMs();
  const histogram = new LatencyHistogram();
  for (const part of collected) histogram.merge(part.histogram);
  const received = collected.reduce((sum, c) => sum + c.received, 0);
  const lastReceiptMs = Math.max(...collected.map((c) => c.lastReceiptMs));
  const deliveryWindowMs = Math.max(plan.durationMs, lastReceiptMs - startedAt);
  const elapsedMs = finishedAt - startedAt;
  const targetCpuPercent = ((target.process.cpuMs() - targetCpuBefore) / elapsedMs) * 100;
  const clientCpuPercent = (((await clientCpuMs(context)) - clientCpuBefore) / elapsedMs) * 100;
  const redisCpuPercent = (((redis?.cpuMs() ?? 0) - redisCpuBefore) / elapsedMs) * 100;
  const machineAfter = machineCpu();
  const machinePercent = ((machineAfter.busyMs - machineBefore.busyMs) / elapsedMs) * 100;
  const stealPercent = ((machineAfter.stealMs - machineBefore.stealMs) / elapsedMs) * 100;
  const latency = histogram.summary();
  const deliveredRatio = expected === 0 ? 0 : received / expected;
  return {
    step: plan.step,
    label: plan.label,
    offeredEventsPerSec: plan.eventsPerSec,
    publishesPerSec,
    durationMs: plan.durationMs,
    sent,
    expected,
    received,
    deliveredRatio,
    deliveredEventsPerSec: received / (deliveryWindowMs / 1000),
    latency,
    targetCpuPercent,
    clientCpuPercent,
    redisCpuPercent,
    otherCpuPercent: Math.max(0, machinePercent - targetCpuPercent - clientCpuPercent - redisCpuPercent),
    stealPercent,
    maxSendLagMs: Math.max(...runs.map((r) => r.maxSendLagMs)),
    mutationErrors: collected.reduce((sum, c) => sum + c.mutationErrors, 0),
    unexpectedCloses: collected.reduce((sum, c) => sum + c.unexpectedCloses, 0),
    passed: expected > 0 && deliveredRatio >= 0.99 && latency.p99Ms <= context.options.p99LimitMs,
    attempts: 1,
    errors: collected.flatMap((c) => c.firstErrors).slice(0, 5),
  };
}

/** Compared half-load steps per target; the one with the median p99 is the figure. */
const MATCHED_REPEATS = 3;

/**
 * Rounds of the interleaved comparison (one step per target each; see runInterleaved). The
 * figure is a median of per-step p99s; two copies of the service run in turns read up to
 * 1.44x apart on the upper median of four steps (1.0-2.73x over the halves of three
 * eight-step runs) and 1.01-1.26x on all eight: eight steps per target, shorter, instead of
 * four of 8 s.
 */
const INTERLEAVED_ROUNDS = 8;

/** An in-turns step's share of --step-seconds x 2 (the half-load step): 6 s at the default. */
const IN_TURNS_STEP_SHARE = 0.75;

/** Reruns allowed per target when other work disturbs a step (bounds the run time). */
const RERUN_BUDGET = 6;
const RERUNS_PER_STEP = 2;

/**
 * Runs a step; while other work on the machine used more than `--disturbed-other-percent`
 * of a core during it, or the hypervisor stole more than `--disturbed-steal-percent`, waits
 * for it to drain (and for a calm second) and runs it again (at most twice per step and
 * {@link RERUN_BUDGET} times per target). The last attempt is kept, with its count.
 */
async function runUndisturbedStep(
  context: PhaseContext,
  target: RunningTarget,
  redis: ManagedProcess | undefined,
  publishersPerWorker: number[],
  plan: StepPlan,
  budget: { reruns: number },
  nextStepId: () => number,
): Promise<StepResult> {
  let attempt = 1;
  let result = await runOneStep(context, target, redis, publishersPerWorker, plan);
  const disturbance = (r: StepResult): string | null => {
    if (r.otherCpuPercent > context.options.disturbedOtherPercent) return `other work ${r.otherCpuPercent.toFixed(0)} % of a core`;
    if (r.stealPercent > context.options.disturbedStealPercent) return `the hypervisor stole ${r.stealPercent.toFixed(0)} % of a core`;
    return null;
  };
  for (let why = disturbance(result); why !== null && attempt <= RERUNS_PER_STEP && budget.reruns < RERUN_BUDGET; why = disturbance(result)) {
    context.log(`${describeStep(result)}  (disturbed: ${why}; again)`);
    budget.reruns += 1;
    attempt += 1;
    await waitForQuiet(context, result.step);
    await sleep(2_000);
    await waitForCalmHost(context.options.disturbedStealPercent);
    result = await runOneStep(context, target, redis, publishersPerWorker, { ...plan, step: nextStepId() });
  }
  result.attempts = attempt;
  return result;
}

/** Waits (at most 10 s) for a second in which the hypervisor stole at most `limitPercent` of a core. */
async function waitForCalmHost(limitPercent: number): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < 10_000) {
    const before = machineCpu().stealMs;
    await sleep(1_000);
    if (((machineCpu().stealMs - before) / 1_000) * 100 <= limitPercent) return;
  }
}

/** Waits (at most 30 s) until a step's late events stop arriving, so the next step starts clean. */
async function waitForQuiet(context: PhaseContext, step: number): Promise<void> {
  let last = -1;
  await waitUntil(
    async () => {
      const peeks = await context.pool.broadcast({ kind: 'peekStep', step });
      const now = peeks.reduce((sum, p) => sum + p.received, 0);
      const quiet = now === last;
      last = now;
      return quiet;
    },
    30_000,
    1_000,
  );
  await context.pool.broadcast({ kind: 'collectStep', step });
}

/**
 * Waits (at most 60 s) until the target has used under 10 % of a core for two half-second
 * reads in a row: an overloaded target can still be working through queued commands after
 * its last events arrived. Returns how long it waited.
 */
async function waitForIdleTarget(target: RunningTarget): Promise<number> {
  const started = Date.now();
  let quietReads = 0;
  while (quietReads < 2 && Date.now() - started < 60_000) {
    const before = target.process.cpuMs();
    await sleep(500);
    quietReads = target.process.cpuMs() - before < 50 ? quietReads + 1 : 0;
  }
  return Date.now() - started;
}

/** Lets an overload settle (queued work, GC, socket buffers) before the next measured step. */
async function settleAfterOverload(context: PhaseContext, target: RunningTarget): Promise<void> {
  await sleep(3_000);
  const settleMs = await waitForIdleTarget(target);
  if (settleMs > 1_500) context.log(`  (target busy with the overload for ${(settleMs / 1000).toFixed(1)} s more before the next step)`);
}

function describeStep(result: StepResult): string {
  const l = result.latency;
  return (
    `  ${result.label.padEnd(9)} offered ${Math.round(result.offeredEventsPerSec).toString().padStart(7)} ev/s` +
    ` delivered ${Math.round(result.deliveredEventsPerSec).toString().padStart(7)} ev/s (${(result.deliveredRatio * 100).toFixed(1)} %)` +
    ` p50 ${l.p50Ms.toFixed(1)} p99 ${l.p99Ms.toFixed(1)} max ${l.maxMs.toFixed(0)} ms` +
    ` cpu target ${result.targetCpuPercent.toFixed(0)} % clients ${result.clientCpuPercent.toFixed(0)} %` +
    (result.redisCpuPercent > 0.5 ? ` redis ${result.redisCpuPercent.toFixed(0)} %` : '') +
    (result.otherCpuPercent > 10 ? ` OTHER ${result.otherCpuPercent.toFixed(0)} %` : '') +
    (result.stealPercent > 2 ? ` steal ${result.stealPercent.toFixed(0)} %` : '') +
    (result.maxSendLagMs > 100 ? ` send lag ${result.maxSendLagMs.toFixed(0)} ms` : '') +
    (result.mutationErrors > 0 ? ` mutation errors ${result.mutationErrors}` : '') +
    (result.passed ? '' : '  FAIL')
  );
}

/**
 * Connects the publishers and runs warm-up, stepped load and the half-load step.
 * Subscribers must already be connected (see {@link measureIdleMemory}).
 */
export async function runFanout(
  context: PhaseContext,
  target: RunningTarget,
  redis: ManagedProcess | undefined,
  subscriberCount: number,
  publishers: BenchUser[],
  matchedEventsPerSec: number | null,
): Promise<FanoutResult> {
  const { options } = context;
  const publishersPerWorker = await connectPublishersEverywhere(context, target.wsUrl, publishers);
  if (publishersPerWorker.every((n) => n === 0)) throw new Error('no publisher could connect');
  await sleep(1_500);
  const steps: StepResult[] = [];
  let stepId = 0;
  const budget = { reruns: 0 };
  const nextStepId = (): number => {
    stepId += 1;
    return stepId;
  };
  const warmup = await runOneStep(context, target, redis, publishersPerWorker, {
    step: stepId,
    label: 'warmup',
    eventsPerSec: options.startEventsPerSec / 2,
    durationMs: 2_000,
  });
  context.log(describeStep(warmup));
  steps.push(warmup);
  // The best passing step and the lowest failing rate so far (assigned inside runLoadStep).
  const ladder: { best: StepResult | null; failedRate: number | null; stopReason: string } = {
    best: null,
    failedRate: null,
    stopReason: `reached --max-steps ${options.maxSteps}`,
  };
  const failureOf = (result: StepResult): string =>
    result.deliveredRatio < 0.99
      ? `only ${(result.deliveredRatio * 100).toFixed(1)} % delivered within the drain window at ${Math.round(result.offeredEventsPerSec)} ev/s offered`
      : `p99 ${result.latency.p99Ms.toFixed(0)} ms > ${options.p99LimitMs} ms at ${Math.round(result.offeredEventsPerSec)} ev/s offered`;
  /** Runs one step (rerun while disturbed), logs it and keeps it in `steps`. */
  const runLoggedStep = async (label: StepPlan['label'], eventsPerSec: number, durationMs: number): Promise<StepResult> => {
    const plan: StepPlan = { step: nextStepId(), label, eventsPerSec, durationMs };
    const result = await runUndisturbedStep(context, target, redis, publishersPerWorker, plan, budget, nextStepId);
    context.log(describeStep(result));
    steps.push(result);
    return result;
  };
  /** Runs one load step at `eventsPerSec`; true when it passed. */
  const runLoadStep = async (label: 'step' | 'refine', eventsPerSec: number): Promise<boolean> => {
    const result = await runLoggedStep(label, eventsPerSec, options.stepSeconds * 1000);
    if (result.passed) {
      ladder.best = result;
      return true;
    }
    ladder.failedRate = eventsPerSec;
    ladder.stopReason = failureOf(result);
    await waitForQuiet(context, result.step);
    return false;
  };
  for (let i = 0; i < options.maxSteps; i += 1) {
    if (!(await runLoadStep('step', options.startEventsPerSec * options.stepFactor ** i))) break;
  }
  // Refinement: the ladder's factor is also the resolution of the best rate (a ratio to the
  // baseline moves by 1.5x on one step). Each refinement step runs at the geometric middle
  // of the last passing and the lowest failing rate, after the target has settled.
  for (let i = 0; i < options.refineSteps; i += 1) {
    const { best, failedRate } = ladder;
    if (best === null || failedRate === null) break;
    const between = Math.sqrt(best.offeredEventsPerSec * failedRate);
    await settleAfterOverload(context, target);
    await runLoadStep('refine', between);
  }
  const { best, stopReason } = ladder;
  const halfRate = (best?.offeredEventsPerSec ?? options.startEventsPerSec) / 2;
  await settleAfterOverload(context, target);
  const halfLoad = await runLoggedStep('half-load', halfRate, options.halfLoadSeconds * 1000);
  // The compared latency steps follow it on every target (the same history for both): the
  // baseline's at half the service's best rate, the service's at half its own again. A few
  // stalls of a shared VM decide a p99, so the figure is the median of three such steps.
  const matchedLoads: StepResult[] = [];
  for (let i = 0; i < MATCHED_REPEATS; i += 1) {
    matchedLoads.push(await runLoggedStep('matched-load', matchedEventsPerSec ?? halfRate, options.halfLoadSeconds * 1000));
  }
  const matchedLoad = medianP99Step(matchedLoads) as StepResult;
  return {
    subscribers: subscriberCount,
    publishers: publishersPerWorker.reduce((a, b) => a + b, 0),
    contactsPerUser: CONTACTS_PER_USER,
    steps,
    best,
    halfLoad,
    matchedLoad,
    matchedLoads,
    stopReason,
  };
}

/** One target of the interleaved comparison: up, with its subscribers connected. */
export interface InterleavedSide {
  target: RunningTarget;
  redis: ManagedProcess | undefined;
  /** Connected by runInterleaved as the workers' publisher set of this name. */
  publishers: BenchUser[];
  population: string;
}

/** How long a target takes the load, unmeasured, before an in-turns step that follows the other target's. */
const SWITCH_LEAD_IN_MS = 3_000;

/**
 * Half-load latency taken in turns. Both targets are up at once (fresh: no overload behind
 * them), each with its subscribers and publishers connected; after a warm-up step each, the
 * targets alternate 6 s steps at `eventsPerSec`, in the order A B B A A B B A …, so both meet
 * the same host over the same minutes: a drift of the host's speed, which moves the
 * sequential compared steps by a third between runs, falls on both. A step that follows the
 * other target's gets an unmeasured lead-in first. Returns each side's steps in order
 * (warm-ups and lead-ins left out).
 */
export async function runInterleaved(context: PhaseContext, sides: InterleavedSide[], eventsPerSec: number): Promise<StepResult[][]> {
  const perWorker: number[][] = [];
  for (const side of sides) perWorker.push(await connectPublishersEverywhere(context, side.target.wsUrl, side.publishers, side.population));
  await sleep(1_500);
  let stepId = 0;
  const nextStepId = (): number => {
    stepId += 1;
    return stepId;
  };
  const plan = (side: InterleavedSide, label: StepResult['label'], durationMs: number): StepPlan => ({
    step: nextStepId(),
    label,
    eventsPerSec,
    durationMs,
    population: side.population,
  });
  // A fresh process runs slower until its hot code is optimized and its heap has grown to
  // its working size (the service's more so): each warms up for as long as two compared steps,
  // the first to be measured last, so its first step does not follow the other target's.
  for (const [i, side] of [...sides.entries()].reverse()) {
    const warmup = await runOneStep(context, side.target, side.redis, perWorker[i] as number[], plan(side, 'warmup', 2 * context.options.halfLoadSeconds * 1000));
    context.log(`  ${side.target.kind}:${describeStep(warmup)}`);
  }
  // At most two reruns per target here: the run must stay under ten minutes.
  const budgets = sides.map(() => ({ reruns: RERUN_BUDGET - 2 }));
  const steps = sides.map((): StepResult[] => []);
  let previous = 0;
  for (let round = 0; round < INTERLEAVED_ROUNDS; round += 1) {
    const order = round % 2 === 0 ? [...sides.keys()] : [...sides.keys()].reverse();
    for (const i of order) {
      const side = sides[i] as InterleavedSide;
      // Steps right after the other target's ran spiky: in six full runs all ten in-turns
      // steps over 28 ms were such steps (eight of the service's, two of the baseline's; with
      // the warm-ups in the old order the service had three such steps to the baseline's two).
      // The load moving over is not what is compared, so the target first takes the rate for
      // SWITCH_LEAD_IN_MS, unmeasured.
      if (i !== previous) await runOneStep(context, side.target, side.redis, perWorker[i] as number[], plan(side, 'warmup', SWITCH_LEAD_IN_MS));
      previous = i;
      const result = await runUndisturbedStep(
        context,
        side.target,
        side.redis,
        perWorker[i] as number[],
        plan(side, 'interleaved', IN_TURNS_STEP_SHARE * context.options.halfLoadSeconds * 1000),
        budgets[i] as { reruns: number },
        nextStepId,
      );
      context.log(`  ${side.target.kind}:${describeStep(result)}`);
      (steps[i] as StepResult[]).push(result);
    }
  }
  return steps;
}
