/** What the numbers came from: printed with every result and stored in the JSON. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** The machine and software a run used. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  gitCommit: string;
  openFilesLimit: number;
}

function tryCommand(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Collects CPU, memory, OS, Node, redis-server version, git commit and the fd limit. */
export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  const redisVersion = /v=(\S+)/.exec(tryCommand('redis-server', ['--version']))?.[1] ?? 'unknown';
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: redisVersion,
    gitCommit: tryCommand('git', ['rev-parse', '--short', 'HEAD']),
    openFilesLimit: Number(tryCommand('sh', ['-c', 'ulimit -n'])) || 0,
  };
}
