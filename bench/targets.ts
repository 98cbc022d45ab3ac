/**
 * Starting and stopping what is measured: the presence service (`node dist/src/index.js`)
 * or the raw baseline (`bench/baseline/server.ts`), each as its own child process with the
 * same inputs, so every figure has a twin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { waitUntil } from './infra/concurrency';
import { httpStatus } from './infra/graphql-http';
import { findFreePort } from './infra/ports';
import { ManagedProcess } from './infra/processes';

/** The two things a run compares. */
export type TargetKind = 'service' | 'baseline';

/** The backend named on the command line. */
export type Backend = 'memory' | 'redis';

/** Where the repository root is (bench/ lives directly below it). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** The built service entry point. */
export const SERVICE_ENTRY = path.join(REPO_ROOT, 'dist', 'src', 'index.js');

/** How to start one target process. */
export interface TargetSpec {
  kind: TargetKind;
  /** Log file base name, e.g. `service-fanout`. */
  name: string;
  secret: string;
  redisUrl?: string;
  /** PRESENCE_TTL_SECONDS / BASELINE_TTL_SECONDS; the process default when omitted. */
  ttlSeconds?: number;
  logDir: string;
  /** When set, the process runs with `--cpu-prof` writing into this directory. */
  profileDir?: string;
  /** Extra node flags (service only). */
  nodeArgs?: string[];
}

/** A running target and its addresses. */
export interface RunningTarget {
  kind: TargetKind;
  process: ManagedProcess;
  graphqlUrl: string;
  wsUrl: string;
  /** The process's inspector port (127.0.0.1), used only to force a GC before reading RSS. */
  inspectPort: number;
  /** Stops it by PID (SIGTERM, so `--cpu-prof` can write its profile; SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** Environment variables of ours that must not leak from the caller's shell into a target. */
const SCRUBBED = /^(PORT|REDIS_URL|PRESENCE_.*|BASELINE_.*|NODE_ENV|LOG_LEVEL)$/;

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !SCRUBBED.test(key)));
}

/** Starts a target on a free port and waits until `GET /readyz` answers 200 (30 s at most). */
export async function startTarget(spec: TargetSpec): Promise<RunningTarget> {
  const port = await findFreePort();
  const inspectPort = await findFreePort();
  const profileArgs = [
    `--inspect=127.0.0.1:${inspectPort}`,
    ...(spec.profileDir ? ['--cpu-prof', '--cpu-prof-dir', spec.profileDir] : []),
  ];
  if (spec.profileDir) fs.mkdirSync(spec.profileDir, { recursive: true });
  let args: string[];
  const env = cleanEnv();
  if (spec.kind === 'service') {
    args = [...profileArgs, ...(spec.nodeArgs ?? []), SERVICE_ENTRY];
    Object.assign(env, {
      PORT: String(port),
      PRESENCE_JWT_SECRET: spec.secret,
      PRESENCE_RATE_LIMIT_PER_MINUTE: '1000000',
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      ...(spec.redisUrl ? { REDIS_URL: spec.redisUrl } : {}),
      ...(spec.ttlSeconds ? { PRESENCE_TTL_SECONDS: String(spec.ttlSeconds) } : {}),
    });
  } else {
    args = [...profileArgs, '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'baseline', 'server.ts')];
    Object.assign(env, {
      BASELINE_PORT: String(port),
      BASELINE_JWT_SECRET: spec.secret,
      TS_NODE_TRANSPILE_ONLY: 'true',
      ...(spec.redisUrl ? { BASELINE_REDIS_URL: spec.redisUrl } : {}),
      ...(spec.ttlSeconds ? { BASELINE_TTL_SECONDS: String(spec.ttlSeconds) } : {}),
    });
  }
  const child = ManagedProcess.start({ name: spec.name, command: process.execPath, args, env, logDir: spec.logDir, cwd: REPO_ROOT });
  const base = `http://127.0.0.1:${port}`;
  const ready = await waitUntil(async () => child.exited || (await httpStatus(`${base}/readyz`)) === 200, 30_000, 100);
  if (!ready || child.exited) {
    await child.stop('SIGKILL');
    throw new Error(`${spec.kind} (${spec.name}) did not become ready on port ${port}; log ${child.logFile}:\n${child.tailLog()}`);
  }
  return {
    kind: spec.kind,
    process: child,
    graphqlUrl: `${base}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    inspectPort,
    stop: () => child.stop('SIGTERM', 10_000),
  };
}

/** True when `dist/src/index.js` exists (the service has been built). */
export function serviceIsBuilt(): boolean {
  return fs.existsSync(SERVICE_ENTRY);
}
