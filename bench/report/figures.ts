/** Turns both targets' results into issue 6's figures: service, baseline, ratio, target, met. */
import type { FigureRow, LatenessResult, MemoryResult, RedisCostResult, StepResult, TargetResults } from './results';

/** The step with the median p99 (of an even count, the upper of the middle two); null for none. */
export function medianP99Step(steps: StepResult[]): StepResult | null {
  return [...steps].sort((a, b) => a.latency.p99Ms - b.latency.p99Ms)[Math.floor(steps.length / 2)] ?? null;
}

function ratioOf(service: number | null, baseline: number | null): number | null {
  if (service === null || baseline === null || !Number.isFinite(service) || !Number.isFinite(baseline) || baseline === 0) return null;
  return service / baseline;
}

function finite(value: number | undefined | null): number | null {
  return value === undefined || value === null || !Number.isFinite(value) ? null : value;
}

function latenessAt(results: TargetResults | null, keys: number | null): LatenessResult | undefined {
  return results?.lateness.find((l) => l.unrelatedKeys === keys);
}

function missedNote(service: LatenessResult | undefined, baseline: LatenessResult | undefined): string {
  const parts: string[] = [];
  if (service && service.missed > 0) parts.push(`service missed ${service.missed}/${service.devices} (counted at ${service.capMs / 1000} s)`);
  if (baseline && baseline.missed > 0) parts.push(`baseline missed ${baseline.missed}/${baseline.devices} (counted at ${baseline.capMs / 1000} s)`);
  return parts.join('; ');
}

/** One memory figure of both targets with their ratio, for a note; '' when neither has it. */
function kibPair(label: string, s: number | null, b: number | null): string {
  if (s === null && b === null) return '';
  const ratio = ratioOf(s, b);
  return `${label}: service ${s?.toFixed(1) ?? 'n/a'} KiB, baseline ${b?.toFixed(1) ?? 'n/a'} KiB${ratio === null ? '' : `, ${ratio.toFixed(2)}x`}`;
}

/** The whole-run, V8-heap and two-sample figures beside the fitted marginal RSS one. */
function memoryNotes(service: MemoryResult | null | undefined, baseline: MemoryResult | null | undefined): string[] {
  return [
    kibPair('over all S (one-off growth included)', finite(service?.wholeRunPerSubscriberKiB), finite(baseline?.wholeRunPerSubscriberKiB)),
    kibPair('V8 heap in use per subscriber (fitted)', finite(service?.heapPerSubscriberKiB), finite(baseline?.heapPerSubscriberKiB)),
    kibPair('RSS from the first and last sample only', finite(service?.twoPointPerSubscriberKiB), finite(baseline?.twoPointPerSubscriberKiB)),
  ];
}

/**
 * Builds the printed figures. `met` compares against issue 6's targets: ratios for
 * throughput, latency and memory, absolute values for lateness and Redis round trips.
 */
export function buildFigures(service: TargetResults | null, baseline: TargetResults | null, latenessKeys: Array<number | null>): FigureRow[] {
  const rows: FigureRow[] = [];
  const push = (row: Omit<FigureRow, 'ratio'> & { ratio?: number | null }): void => {
    rows.push({ ...row, ratio: row.ratio === undefined ? ratioOf(row.service, row.baseline) : row.ratio });
  };

  const sBest = service?.fanout?.best?.deliveredEventsPerSec ?? null;
  const bBest = baseline?.fanout?.best?.deliveredEventsPerSec ?? null;
  const throughputRatio = ratioOf(sBest, bBest);
  push({
    figure: 'Fan-out: delivered events/s at the best step with p99 <= 250 ms',
    unit: 'ev/s',
    service: sBest,
    baseline: bBest,
    target: '>= 0.5x baseline (aim 0.7x)',
    met: throughputRatio === null ? null : throughputRatio >= 0.5,
    note: [service?.fanout?.stopReason ? `service stopped: ${service.fanout.stopReason}` : '', baseline?.fanout?.stopReason ? `baseline stopped: ${baseline.fanout.stopReason}` : '']
      .filter(Boolean)
      .join('; '),
  });

  // Both at half the service's best rate when the service was measured (equal load), each
  // the median of the steps that follow the first one after the overload (equal history);
  // the repeats and the first ones are in the note.
  const sFirst = service?.fanout?.halfLoad ?? null;
  const sHalf = service?.fanout?.matchedLoad ?? null;
  const bOwnHalf = baseline?.fanout?.halfLoad ?? null;
  const bHalf = baseline?.fanout?.matchedLoad ?? null;
  const firstStep = (who: string, step: StepResult | null, compared: StepResult | null): string =>
    step && step !== compared
      ? `${who} (${Math.round(step.offeredEventsPerSec)} ev/s): p50 ${step.latency.p50Ms.toFixed(1)} ms, p99 ${step.latency.p99Ms.toFixed(1)} ms`
      : '';
  const repeats = (who: string, steps: StepResult[] | undefined): string =>
    steps !== undefined && steps.length > 1 ? `${who} p99 in the ${steps.length} compared steps ${steps.map((st) => st.latency.p99Ms.toFixed(1)).join(' / ')} ms (median shown${steps.length % 2 === 0 ? ': the upper of the middle two' : ''})` : '';
  const halfNoteText = [
    sHalf ? `service at ${Math.round(sHalf.offeredEventsPerSec)} ev/s (half its best)` : '',
    bHalf ? `baseline at ${Math.round(bHalf.offeredEventsPerSec)} ev/s` : '',
    repeats('service', service?.fanout?.matchedLoads),
    repeats('baseline', baseline?.fanout?.matchedLoads),
    firstStep('service, first step after the overload', sFirst, sHalf),
    firstStep('baseline at half its own best, first step after the overload', bOwnHalf, bHalf),
  ]
    .filter(Boolean)
    .join('; ');
  push({
    figure: 'Half load (half the service best rate): p50 latency',
    unit: 'ms',
    service: finite(sHalf?.latency.p50Ms),
    baseline: finite(bHalf?.latency.p50Ms),
    target: '',
    met: null,
    note: halfNoteText,
  });
  /**
   * A compared p99 of both targets against the 1.5x target. No verdict when the baseline's
   * step failed (p99 over the limit): a ratio against an overloaded server says nothing
   * about the service's overhead.
   */
  const pushP99 = (figure: string, s: StepResult | null, b: StepResult | null, note: string): void => {
    const ratio = ratioOf(finite(s?.latency.p99Ms), finite(b?.latency.p99Ms));
    const overloaded = b !== null && !b.passed;
    push({
      figure,
      unit: 'ms',
      service: finite(s?.latency.p99Ms),
      baseline: finite(b?.latency.p99Ms),
      target: '<= 1.5x baseline',
      met: ratio === null || overloaded ? null : ratio <= 1.5,
      note: [overloaded ? `no verdict: the baseline was overloaded at ${Math.round(b.offeredEventsPerSec)} ev/s (its best ${Math.round(baseline?.fanout?.best?.offeredEventsPerSec ?? 0)})` : '', note].filter(Boolean).join('; '),
    });
  };
  pushP99('Half load (half the service best rate): p99 latency', sHalf, bHalf, halfNoteText);

  // The same comparison in turns (runInterleaved): both targets up at once and fresh, their
  // steps alternating, so a change in the host's speed falls on both; at half the lower of
  // the two best rates (inTurnsRate in run.ts), so neither is past half its capacity.
  const sTurns = medianP99Step(service?.interleaved ?? []);
  const bTurns = medianP99Step(baseline?.interleaved ?? []);
  pushP99(
    'Half load in turns (half the lower best rate; both up, fresh, steps alternating): p99 latency',
    sTurns,
    bTurns,
    [
      sTurns ? `both at ${Math.round(sTurns.offeredEventsPerSec)} ev/s in the order service, baseline, baseline, service, …` : '',
      repeats('service', service?.interleaved ?? undefined),
      repeats('baseline', baseline?.interleaved ?? undefined),
      sTurns && bTurns ? `p50 of those steps: service ${sTurns.latency.p50Ms.toFixed(2)} ms, baseline ${bTurns.latency.p50Ms.toFixed(2)} ms` : '',
    ]
      .filter(Boolean)
      .join('; '),
  );

  const sMem = finite(service?.memory?.perSubscriberKiB);
  const bMem = finite(baseline?.memory?.perSubscriberKiB);
  const memRatio = ratioOf(sMem, bMem);
  push({
    figure: 'RSS per idle subscriber (connection + presenceChanged; marginal, fitted over the last 3/4 of S)',
    unit: 'KiB',
    service: sMem,
    baseline: bMem,
    target: '<= 3x baseline (aim 2x)',
    met: memRatio === null ? null : memRatio <= 3,
    note: [
      service?.memory ? `service ${service.memory.ready}/${service.memory.subscribers} subscribers ready` : '',
      baseline?.memory ? `baseline ${baseline.memory.ready}/${baseline.memory.subscribers} ready` : '',
      ...memoryNotes(service?.memory, baseline?.memory),
    ]
      .filter(Boolean)
      .join(', '),
  });

  for (const keys of latenessKeys) {
    const s = latenessAt(service, keys);
    const b = latenessAt(baseline, keys);
    const label = keys === null ? 'in-process (memory backend)' : `${keys.toLocaleString('en-US')} unrelated keys`;
    const note = missedNote(s, b);
    push({ figure: `Offline lateness p50, ${label}`, unit: 'ms', service: finite(s?.lateness.p50Ms), baseline: finite(b?.lateness.p50Ms), target: '', met: null, note });
    const sP99 = finite(s?.lateness.p99Ms);
    push({
      figure: `Offline lateness p99, ${label}`,
      unit: 'ms',
      service: sP99,
      baseline: finite(b?.lateness.p99Ms),
      target: keys === 1_000_000 || keys === null ? '< 1000 ms (aim < 250)' : '',
      met: keys === 1_000_000 || keys === null ? (sP99 === null ? null : sP99 < 1000 && (s?.missed ?? 1) === 0) : null,
      note,
    });
    push({ figure: `Offline lateness max, ${label}`, unit: 'ms', service: finite(s?.lateness.maxMs), baseline: finite(b?.lateness.maxMs), target: '', met: null, note });
  }

  const sRedis = service?.heartbeat?.redis ?? null;
  const bRedis = baseline?.heartbeat?.redis ?? null;
  if (sRedis !== null || bRedis !== null) {
    const perCommand = (breakdown: Record<string, number>, digits = 2): string =>
      Object.entries(breakdown)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, v]) => `${k} ${v.toFixed(digits)}`)
        .join(', ');
    push({
      figure: 'Redis commands per heartbeat (commandstats, incl. inside scripts)',
      unit: 'cmd',
      service: finite(sRedis?.commandsPerHeartbeat),
      baseline: finite(bRedis?.commandsPerHeartbeat),
      target: '',
      met: null,
      note: sRedis ? `service: ${perCommand(sRedis.breakdownPerHeartbeat)}` : '',
    });
    push({
      figure: 'Redis commands sent per heartbeat (MONITOR, scripts count once)',
      unit: 'cmd',
      service: finite(sRedis?.topLevelCommandsPerHeartbeat),
      baseline: finite(bRedis?.topLevelCommandsPerHeartbeat),
      target: '',
      met: null,
      note: sRedis ? `service: ${perCommand(sRedis.topLevelBreakdownPerHeartbeat)}` : '',
    });
    const sTrips = finite(sRedis?.roundTripsPerHeartbeat);
    push({
      figure: 'Redis round trips per heartbeat (counting proxy, one beat at a time)',
      unit: 'trips',
      service: sTrips,
      baseline: finite(bRedis?.roundTripsPerHeartbeat),
      target: '<= 2',
      met: sTrips === null ? null : sTrips <= 2.02,
      note: sRedis
        ? `service probe, ${sRedis.roundTripProbeHeartbeats} heartbeats, round trips by shape: ${perCommand(sRedis.roundTripShapesPerHeartbeat)}`
        : '',
    });
    const idleNote = (r: RedisCostResult | null, who: string): string =>
      r
        ? `${who} idle with ${r.deviceSockets} device sockets: ${r.idleWithDevices.commandsPerSecond.toFixed(1)} cmd/s (${perCommand(r.idleWithDevices.breakdownPerSecond, 1)}), ` +
          `script-internal commands naming a socket's user ${(r.scriptCommandsPerDeviceSocketPerMinute ?? 0).toFixed(2)}/socket/min` +
          (r.idleWithoutDevices ? `; without device sockets ${r.idleWithoutDevices.commandsPerSecond.toFixed(1)} cmd/s` : '')
        : '';
    const sPerSocket = finite(sRedis?.commandsPerDeviceSocketPerMinute);
    push({
      figure: 'Idle Redis commands per device socket per minute (MONITOR, naming its user)',
      unit: 'cmd',
      service: sPerSocket,
      baseline: finite(bRedis?.commandsPerDeviceSocketPerMinute),
      target: '<= 1 per socket per 25 s refresh (2.4/min)',
      met: sPerSocket === null ? null : sPerSocket <= 2.4,
      note: [idleNote(sRedis, 'service'), idleNote(bRedis, 'baseline')].filter(Boolean).join('; '),
    });
  }

  push({
    figure: 'Heartbeats/s over HTTP (closed loop)',
    unit: 'req/s',
    service: finite(service?.heartbeat?.heartbeatsPerSec),
    baseline: finite(baseline?.heartbeat?.heartbeatsPerSec),
    target: '',
    met: null,
    note:
      service?.heartbeat || baseline?.heartbeat
        ? `${service?.heartbeat?.concurrency ?? baseline?.heartbeat?.concurrency ?? 0} in flight; p99 service ${finite(service?.heartbeat?.latency.p99Ms)?.toFixed(1) ?? 'n/a'} ms, baseline ${finite(baseline?.heartbeat?.latency.p99Ms)?.toFixed(1) ?? 'n/a'} ms`
        : '',
  });
  return rows;
}
