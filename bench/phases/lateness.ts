/**
 * Offline-detection lateness: how long after a device's deadline its contacts hear EXPIRED.
 *
 * Order: the target starts with a 2 s TTL → watcher users (one per 10 expiring users, each
 * the contact of its 10) subscribe and receive their INITIAL events → every expiring user's
 * device heartbeats once over HTTP → nobody beats again. Deadline = heartbeat send time + TTL
 * (the send time, not the answer time, so lateness is never flattered); lateness = first
 * EXPIRED receipt − deadline. Devices not reported within the cap count as the cap.
 */
import { sleep } from '../infra/concurrency';
import { machineCpu } from '../infra/processes';
import { LatencyHistogram } from '../load/histogram';
import type { BenchUser } from '../load/protocol';
import { preciseNowMs } from '../load/wire';
import { applyContacts } from '../population';
import type { LatenessResult } from '../report/results';
import { startTarget, type TargetKind } from '../targets';
import { connectSubscribersEverywhere, type PhaseContext } from './context';

/** TTL the target runs with in this phase (PRESENCE_TTL_SECONDS / BASELINE_TTL_SECONDS). */
export const LATENESS_TTL_SECONDS = 2;
const EXPIRING_PER_WATCHER = 10;

/** The users of the lateness phase: expiring devices and their watchers. */
export interface LatenessPopulation {
  expiring: BenchUser[];
  watchers: BenchUser[];
}

/**
 * Ids of the expiring users (`e<tag>-<i>`) and watchers (`w<tag>-<k>`) for `devices` devices.
 * Each measurement uses its own tag: reusing a key that Redis has not reclaimed yet would
 * fire its `expired` notification at the next write, long before the new deadline.
 */
export function latenessIds(devices: number, tag: string): { expiring: string[]; watchers: string[] } {
  const expiring = Array.from({ length: devices }, (_, i) => `e${tag}-${i}`);
  const watchers = Array.from({ length: Math.ceil(devices / EXPIRING_PER_WATCHER) }, (_, k) => `w${tag}-${k}`);
  return { expiring, watchers };
}

/** Runs one lateness measurement on a fresh target process. */
export async function measureLateness(
  context: PhaseContext,
  kind: TargetKind,
  population: LatenessPopulation,
  redisUrl: string | undefined,
  unrelatedKeys: number | null,
): Promise<LatenessResult> {
  const label = unrelatedKeys === null ? 'memory' : `${unrelatedKeys}`;
  const target = await startTarget({
    kind,
    name: `${kind}-lateness-${label}`,
    secret: context.secret,
    redisUrl,
    ttlSeconds: LATENESS_TTL_SECONDS,
    logDir: context.logDir,
  });
  try {
    const groups = population.watchers.map(
      (watcher, k) =>
        [watcher.userId, population.expiring.slice(k * EXPIRING_PER_WATCHER, (k + 1) * EXPIRING_PER_WATCHER).map((u) => u.userId)] as const,
    );
    await applyContacts(target.graphqlUrl, context.adminToken, groups);
    const connected = await connectSubscribersEverywhere(
      context,
      target.wsUrl,
      population.watchers.map((w, k) => ({ ...w, expectedInitial: groups[k]?.[1].length ?? 0 })),
    );
    if (connected.ready < population.watchers.length) {
      context.log(`  watchers: ${connected.ready}/${population.watchers.length} ready: ${connected.firstErrors.join(' | ')}`);
    }
    await sleep(500);
    const since = preciseNowMs();
    const machineBefore = machineCpu().busyMs;
    const targetBefore = target.process.cpuMs();
    const shares = context.pool.split(population.expiring);
    const beats = await Promise.all(
      shares.map((share, index) =>
        context.pool.call(index, { kind: 'heartbeatOnce', url: target.graphqlUrl, users: share, deviceId: 'd1', concurrency: 8 }),
      ),
    );
    const deadlines = new Map<string, number>();
    const sentAt = new Map<string, number>();
    for (const beat of beats) {
      for (const receipt of beat.receipts) {
        if (!receipt.ok) continue;
        deadlines.set(receipt.userId, receipt.sentAtMs + LATENESS_TTL_SECONDS * 1000);
        sentAt.set(receipt.userId, receipt.sentAtMs);
      }
    }
    const heartbeatFailures = population.expiring.length - deadlines.size;
    if (heartbeatFailures > 0) context.log(`  ${heartbeatFailures} heartbeats failed: ${beats.flatMap((b) => b.firstErrors).slice(0, 3).join(' | ')}`);
    const capMs = context.options.latenessCapSeconds * 1000;
    const lastDeadline = Math.max(...deadlines.values());
    const receipts = new Map<string, number>();
    while (preciseNowMs() < lastDeadline + capMs && receipts.size < deadlines.size) {
      await sleep(250);
      const batches = await context.pool.broadcast({ kind: 'expiredReceipts', sinceMs: since });
      for (const batch of batches) {
        for (const [userId, at] of batch.receipts) {
          // An EXPIRED from before this device's heartbeat belongs to an earlier life of the user.
          if (!receipts.has(userId) && at >= (sentAt.get(userId) ?? Number.POSITIVE_INFINITY)) receipts.set(userId, at);
        }
      }
    }
    const windowMs = preciseNowMs() - since;
    const targetCpuPercent = ((target.process.cpuMs() - targetBefore) / windowMs) * 100;
    const machinePercent = ((machineCpu().busyMs - machineBefore) / windowMs) * 100;
    const histogram = new LatencyHistogram();
    let detected = 0;
    let earliestMs = Number.POSITIVE_INFINITY;
    for (const [userId, deadline] of deadlines) {
      const receivedAt = receipts.get(userId);
      if (receivedAt === undefined) histogram.record(capMs);
      else {
        detected += 1;
        earliestMs = Math.min(earliestMs, receivedAt - deadline);
        histogram.record(receivedAt - deadline);
      }
    }
    return {
      unrelatedKeys,
      devices: population.expiring.length,
      ttlSeconds: LATENESS_TTL_SECONDS,
      detected,
      missed: deadlines.size - detected,
      capMs,
      lateness: histogram.summary(),
      earliestMs: detected > 0 ? earliestMs : null,
      targetCpuPercent,
      machineCpuPercent: machinePercent,
      heartbeatFailures,
    };
  } finally {
    await target.stop();
    await context.pool.broadcast({ kind: 'closeAll' });
  }
}
