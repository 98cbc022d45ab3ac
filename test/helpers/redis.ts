/**
 * A private redis-server per suite, on a free port, nothing on disk; killed by PID.
 * With REDIS_URL set, that server is used instead (and never flushed: tests use
 * unique key prefixes).
 */
import { ChildProcess, spawn } from 'node:child_process';
import Redis from 'ioredis';
import { freePort } from './ports';

export interface TestRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  client(): Redis;
}

async function waitForPing(port: number, deadlineMs = 10_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    // A refused probe's socket is already closed when disconnect() arms ioredis's
    // disconnectTimeout (2 s by default): the timer would keep the test process alive that long.
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 10 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch {
      probe.disconnect();
      if (Date.now() - start > deadlineMs) throw new Error(`redis-server on port ${port} did not answer`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    const url = process.env.REDIS_URL;
    const clients: Redis[] = [];
    return {
      url,
      port: Number(new URL(url).port || 6379),
      kill: async () => {
        throw new Error('cannot kill a REDIS_URL server');
      },
      restart: async () => undefined,
      stop: async () => {
        await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
      },
      client: () => {
        const c = new Redis(url);
        clients.push(c);
        return c;
      },
    };
  }
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const clients: Redis[] = [];
  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...extraArgs], {
      stdio: 'ignore',
    });
    await waitForPing(port);
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: launch,
    stop: async () => {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
      await kill();
    },
    client: () => {
      const c = new Redis(port, '127.0.0.1');
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
  };
}
