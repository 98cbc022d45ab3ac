/**
 * Child processes the bench owns (the service, the baseline, redis-server): started with
 * their output in a log file, observed through /proc, and stopped by PID only. Anything
 * still running when the orchestrator exits (SIGINT and SIGTERM included) is killed by PID
 * in an exit hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from './concurrency';

/** Linux USER_HZ: /proc times are in these ticks (100 on every mainstream kernel). */
const CLOCK_TICKS_PER_SECOND = 100;

const owned = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of owned) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
  // A signal sent to the orchestrator alone (not to its process group, as Ctrl-C does)
  // would otherwise end it without 'exit' and leave redis-server and the targets running.
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
}

/** How to start a managed process. */
export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logDir: string;
  cwd?: string;
}

/** A running child process the bench started. */
export class ManagedProcess {
  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {}

  /** Spawns `spec.command` with stdout and stderr appended to `<logDir>/<name>.log`. */
  static start(spec: ProcessSpec): ManagedProcess {
    installExitHook();
    fs.mkdirSync(spec.logDir, { recursive: true });
    const logFile = path.join(spec.logDir, `${spec.name}.log`);
    const log = fs.openSync(logFile, 'a');
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    owned.add(child);
    child.on('exit', () => owned.delete(child));
    if (child.pid === undefined) throw new Error(`could not start ${spec.command} (${spec.name}); see ${logFile}`);
    return new ManagedProcess(spec.name, child, logFile);
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Resident set size in KiB, from /proc/<pid>/status (0 when gone). */
  rssKiB(): number {
    try {
      const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** User + system CPU time consumed so far, in milliseconds, from /proc/<pid>/stat. */
  cpuMs(): number {
    try {
      const stat = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      // Fields after "(comm)": state is field 3, utime 14 and stime 15 (1-based).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return 0;
    }
  }

  /** The last `lines` lines of the log, for error messages. */
  tailLog(lines = 20): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '';
    }
  }

  /** Sends `signal`, waits up to `graceMs` for exit, then SIGKILLs the PID. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    const inTime = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!inTime && !this.exited) {
      this.child.kill('SIGKILL');
      await Promise.race([exited, sleep(2_000)]);
    }
  }
}

/**
 * Median RSS (KiB) of `samples` reads `gapMs` apart; one read can catch a GC mid-flight.
 */
export async function sampleRssKiB(owner: ManagedProcess, samples = 5, gapMs = 200): Promise<number> {
  const reads: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    reads.push(owner.rssKiB());
    if (i < samples - 1) await sleep(gapMs);
  }
  reads.sort((a, b) => a - b);
  return reads[Math.floor(reads.length / 2)] ?? 0;
}

/** CPU time of the whole machine so far (all cores, ms), from one read of /proc/stat's first line. */
export interface MachineCpu {
  /**
   * Busy time. Compared with the bench's own processes it shows how much other work shared
   * the machine during a step: on a shared 2-core box that is the main source of noise.
   */
  busyMs: number;
  /** Time the hypervisor gave to other guests while this VM wanted to run (`steal`). */
  stealMs: number;
}

export function machineCpu(): MachineCpu {
  let ticks: number[] = [];
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    ticks = line.trim().split(/\s+/).slice(1).map(Number);
  } catch {
    // No /proc (not Linux): the machine's share reads as zero.
  }
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busyMs: ((total - idle) * 1000) / CLOCK_TICKS_PER_SECOND, stealMs: ((ticks[7] ?? 0) * 1000) / CLOCK_TICKS_PER_SECOND };
}
