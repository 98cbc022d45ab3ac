/**
 * Servers for tests: in-process (`startServer`, shares the test's event loop, gives
 * access to internals) or as a child process (`spawnNode`, for multi-node and kill
 * tests). Both listen on a free port and are stopped by the test that started them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { App, buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { freePort } from './ports';

export const TEST_SECRET = 'test-secret-for-the-presence-suite-only';

export interface TestServer {
  url: string;
  wsUrl: string;
  port: number;
  app: App;
  stop(): Promise<void>;
}

/** Starts an app in this process; `env` overrides PRESENCE_* and friends. */
export async function startServer(env: Record<string, string> = {}, options: { keepAliveMs?: number } = {}): Promise<TestServer> {
  const port = await freePort();
  const config = loadConfig({
    PRESENCE_JWT_SECRET: TEST_SECRET,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PRESENCE_REDIS_PREFIX: `t${randomUUID().slice(0, 8)}`,
    ...env,
    PORT: String(port),
  });
  const app = await buildApp(config, { logger: pino({ level: env.LOG_LEVEL ?? 'silent' }), keepAliveMs: options.keepAliveMs });
  await app.start();
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    port,
    app,
    stop: () => app.stop(),
  };
}

export interface NodeProcess {
  url: string;
  wsUrl: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');

/** Starts `src/index.ts` as a child process (ts-node) and waits until /healthz answers. */
export async function spawnNode(env: Record<string, string>): Promise<NodeProcess> {
  const port = await freePort();
  let out = '';
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src', 'index.ts')], {
    cwd: ROOT,
    env: { ...process.env, PRESENCE_JWT_SECRET: TEST_SECRET, NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const started = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`node exited early: ${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() - started > 30_000) throw new Error(`node did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    port,
    proc,
    output: () => out,
    stop: () => kill('SIGTERM'),
    kill,
  };
}
