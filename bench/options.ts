/** Command-line options of `npm run bench -- …`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, TargetKind } from './targets';

/**
 * The node flags `npm start` runs the service with (package.json's "start": `node <flags>
 * dist/src/index.js`), so the bench measures the service as it is deployed.
 */
function startScriptNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  const match = /^node\s+(.*?)\s*dist\/src\/index\.js$/.exec(pkg.scripts?.start ?? '');
  if (!match) throw new Error('package.json "start" is not `node [flags] dist/src/index.js`: the bench cannot tell which flags the service runs with');
  return match[1].split(/\s+/).filter(Boolean);
}

/** Everything a run can be told. Defaults fit a 2-core machine in under 10 minutes. */
export interface BenchOptions {
  backend: Backend;
  subscribers: number;
  /** Which targets to measure; the service is skipped (with a note) when it is not built. */
  targets: TargetKind[];
  phases: Set<Phase>;
  workers: number;
  publishers: number;
  stepSeconds: number;
  halfLoadSeconds: number;
  startEventsPerSec: number;
  stepFactor: number;
  maxSteps: number;
  /** Steps between the last passing and the first failing rate, each halving the gap (geometrically). */
  refineSteps: number;
  p99LimitMs: number;
  /** A step during which other work used more than this (% of one core) is run again. */
  disturbedOtherPercent: number;
  /** A step during which the hypervisor stole more than this (% of one core) is run again. */
  disturbedStealPercent: number;
  expiringDevices: number;
  latenessCapSeconds: number;
  heartbeatSeconds: number;
  heartbeatConcurrency: number;
  profile: boolean;
  /** Write heap snapshots of each target after the first quarter and after all subscribers connect. */
  heapSnapshots: boolean;
  /** Extra `node` flags for the service process only (e.g. `--trace-gc`); the defaults are `npm start`'s flags. */
  serviceNodeArgs: string[];
  build: boolean;
  outDir: string;
}

/** The measurement phases that `--phases` can select. */
export type Phase = 'fanout' | 'memory' | 'lateness' | 'heartbeat';

const ALL_PHASES: Phase[] = ['memory', 'fanout', 'heartbeat', 'lateness'];

const USAGE = `usage: npm run bench -- [options]
  --backend memory|redis     service backend (default memory); redis starts its own redis-server
  --subscribers N            subscriber users, one graphql-ws connection each (default 1000; 5000, 20000)
  --targets service,baseline what to measure (default both)
  --phases memory,fanout,heartbeat,lateness   (default all)
  --workers N                load-generator processes (default 2)
  --publishers N             publisher connections (default clamp(S/10, 50, 500))
  --step-seconds N           send window per load step (default 4)
  --start-events N           first step's offered events/s (default 2000)
  --step-factor X            rate multiplier between steps (default 1.5)
  --max-steps N              (default 16)
  --refine-steps N           after the first failing step, N steps that bisect (geometrically)
                             the gap between it and the last passing one (default 2; 0 = off)
  --p99-limit-ms N           a step passes while p99 <= this (default 250)
  --disturbed-other-percent N   rerun a step (at most twice) when other work on the machine
                             used more than N % of a core during it (default 30)
  --disturbed-steal-percent N   the same when the hypervisor stole more than N % of a core
                             from this VM during it (default 5)
  --expiring-devices N       devices in the lateness phase (default 2000)
  --lateness-cap-seconds N   how long to wait for EXPIRED after the last deadline (default 15)
  --heartbeat-seconds N      heartbeat throughput window (default 5)
  --profile                  run the targets with node --cpu-prof and summarize
  --heap-snapshots           write idle-quarter.heapsnapshot and idle-all.heapsnapshot per target
                             (compare them with bench/tools/heap-diff.ts; the snapshots themselves
                             grow RSS, so the RSS figure of such a run is not comparable)
  --service-node-args "..."  extra node flags for the service process (e.g. "--trace-gc")
  --no-build                 do not run "npm run build" first
  --out DIR                  results directory (default bench/results)`;

function positive(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (raw === undefined || !Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number, got ${String(raw)}\n${USAGE}`);
  return value;
}

/** Parses argv (after `--`); throws with the usage text on anything it does not understand. */
export function parseOptions(argv: readonly string[], defaultOutDir: string): BenchOptions {
  const options: BenchOptions = {
    backend: 'memory',
    subscribers: 1000,
    targets: ['baseline', 'service'],
    phases: new Set(ALL_PHASES),
    workers: 2,
    publishers: 0,
    stepSeconds: 4,
    halfLoadSeconds: 8,
    startEventsPerSec: 2000,
    stepFactor: 1.5,
    maxSteps: 16,
    refineSteps: 2,
    p99LimitMs: 250,
    disturbedOtherPercent: 30,
    disturbedStealPercent: 5,
    expiringDevices: 2000,
    latenessCapSeconds: 15,
    heartbeatSeconds: 5,
    heartbeatConcurrency: 32,
    profile: false,
    heapSnapshots: false,
    serviceNodeArgs: startScriptNodeFlags(),
    build: true,
    outDir: defaultOutDir,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = (): string | undefined => {
      i += 1;
      return argv[i];
    };
    switch (flag) {
      case '--backend': {
        const backend = value();
        if (backend !== 'memory' && backend !== 'redis') throw new Error(`--backend must be memory or redis\n${USAGE}`);
        options.backend = backend;
        break;
      }
      case '--subscribers':
        options.subscribers = Math.floor(positive(flag, value()));
        break;
      case '--targets': {
        const targets = (value() ?? '').split(',').filter(Boolean);
        if (targets.length === 0 || targets.some((t) => t !== 'service' && t !== 'baseline')) throw new Error(`--targets takes service and/or baseline\n${USAGE}`);
        options.targets = targets as TargetKind[];
        break;
      }
      case '--phases': {
        const phases = (value() ?? '').split(',').filter(Boolean);
        if (phases.length === 0 || phases.some((p) => !ALL_PHASES.includes(p as Phase))) throw new Error(`--phases takes ${ALL_PHASES.join(',')}\n${USAGE}`);
        options.phases = new Set(phases as Phase[]);
        break;
      }
      case '--workers':
        options.workers = Math.floor(positive(flag, value()));
        break;
      case '--publishers':
        options.publishers = Math.floor(positive(flag, value()));
        break;
      case '--step-seconds':
        options.stepSeconds = positive(flag, value());
        options.halfLoadSeconds = options.stepSeconds * 2;
        break;
      case '--start-events':
        options.startEventsPerSec = positive(flag, value());
        break;
      case '--step-factor':
        options.stepFactor = positive(flag, value());
        if (options.stepFactor <= 1) throw new Error('--step-factor must be above 1');
        break;
      case '--refine-steps': {
        const raw = value();
        const steps = Number(raw);
        if (!Number.isInteger(steps) || steps < 0) throw new Error(`--refine-steps needs a whole number >= 0, got ${String(raw)}\n${USAGE}`);
        options.refineSteps = steps;
        break;
      }
      case '--max-steps':
        options.maxSteps = Math.floor(positive(flag, value()));
        break;
      case '--p99-limit-ms':
        options.p99LimitMs = positive(flag, value());
        break;
      case '--disturbed-steal-percent':
        options.disturbedStealPercent = positive(flag, value());
        break;
      case '--disturbed-other-percent':
        options.disturbedOtherPercent = positive(flag, value());
        break;
      case '--expiring-devices':
        options.expiringDevices = Math.floor(positive(flag, value()));
        break;
      case '--lateness-cap-seconds':
        options.latenessCapSeconds = positive(flag, value());
        break;
      case '--heartbeat-seconds':
        options.heartbeatSeconds = positive(flag, value());
        break;
      case '--profile':
        options.profile = true;
        break;
      case '--heap-snapshots':
        options.heapSnapshots = true;
        break;
      case '--service-node-args':
        options.serviceNodeArgs = [...options.serviceNodeArgs, ...(value() ?? '').split(' ').filter(Boolean)];
        break;
      case '--no-build':
        options.build = false;
        break;
      case '--out':
        options.outDir = value() ?? defaultOutDir;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown option ${String(flag)}\n${USAGE}`);
    }
  }
  if (options.subscribers <= 20) throw new Error('--subscribers must be above 20 (each user has 20 contacts)');
  if (options.publishers === 0) options.publishers = Math.min(500, Math.max(50, Math.floor(options.subscribers / 10)));
  options.publishers = Math.min(options.publishers, options.subscribers);
  return options;
}
